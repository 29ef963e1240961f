"""Model cards (Markdown, and HTML checked in a real headless Chromium), plots, expert edits."""

import base64
import io
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.exceptions import NotFittedError

import nlmodels
from nlmodels import ConceptClassifier, ConceptRegressor
from textsets import reviews, topics

HOSTILE = "<script>alert('x')</script> the film was brilliant & <b>bold</b>"


@pytest.fixture(scope="module")
def data():
    texts, labels = reviews(80)
    test_texts, test_labels = reviews(30, seed=3)
    test_texts[1] = HOSTILE
    test_labels[1] = "pos"
    return texts, labels, test_texts, test_labels


@pytest.fixture(scope="module")
def model(data):
    texts, labels, _, _ = data
    return ConceptClassifier(max_concepts=6).fit(texts, labels)


# ---------------------------------------------------------------------- cards
def test_markdown_card_has_every_section_and_concept(model, data, tmp_path):
    _, _, X, y = data
    path = model.report(X, y, tmp_path / "card.md", limitations=["Only tested on made-up reviews."])
    text = Path(path).read_text()
    for heading in ("## Performance on the test set", "Confusion matrix", "## Concepts", "Where each concept fires",
                    "## How the concepts are measured", "## Chat-model usage and cost", "## Data",
                    "## Limitations", "## Edit history", "## The model as printed"):
        assert heading in text, heading
    accuracy = (model.predict(X) == y).mean()
    assert f"| accuracy | {accuracy:.3f} (95% interval " in text
    for name in model.concept_names():
        assert name.replace("|", "\\|") in text
    assert "Only tested on made-up reviews." in text and "training texts | 80" in text
    # what of a long text is read, as the code does it: the cut every text gets, the embedder's window
    from nlmodels._validation import MAX_TEXT_CHARS
    assert f"Texts longer than {MAX_TEXT_CHARS:,} characters are cut there" in text
    assert f"The embedder reads {model.embedder_.window} word pieces at a time" in text and "window by window" in text
    assert "none: the model was fitted and predicts offline" in text
    assert "<script>" not in text  # test texts are escaped
    for image in ("card_weights.png", "card_explanation.png"):
        assert f"]({image})" in text and (tmp_path / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_card_data_counts_firing_and_finds_strongest_texts(model, data):
    _, _, X, y = data
    card = nlmodels.report.card_data(model, X, y, n_examples=2)
    F = model._measure(X)
    S = model.n_signals_
    assert {c["name"] for c in card["concepts"]} == set(model.concept_names())
    reading = model.measurer_.reading_signal()
    assert set(reading) == {0, 1}   # phrase concepts read 'mentions', the others 'similar'
    for c in card["concepts"]:
        # "fires" counts the signal that measures what the sentence says, as str(model)'s support does:
        # 'mentions' for a phrase concept (whose 'similar' may be gated), never a signal it does not read as
        scores = F[:, c["index"] * S + reading[c["index"]]]
        assert c["fires_on"] == model.measurer_.signals[reading[c["index"]]]
        assert c["fires"] == pytest.approx((scores >= 0.5).mean())
        if c["phrases"]:   # only a concept with phrases can mention one; a prototype has no mentions signal
            assert c["mentions"] == pytest.approx(F[:, c["index"] * S + 1].mean())
            assert set(c["signal_weights"]) == set(model.measurer_.signals)
        else:
            assert "mentions" not in c and "mentions" not in c["signal_weights"]
        assert len(c["examples"]) <= 2
        if c["examples"]:
            assert c["examples"][0]["score"] == pytest.approx(scores.max())
        if c["phrases"]:   # its examples are texts that mention one of its phrases
            assert all(e["scores"]["mentions"] == 1 for e in c["examples"])
        assert c["weights"][0] == pytest.approx(model.coef_[0, c["index"] * S:(c["index"] + 1) * S].sum())
    m = card["metrics"]
    assert m["accuracy"] == pytest.approx((model.predict(X) == y).mean())
    assert np.array(m["confusion"]).sum() == len(X) and m["labels"] == ["neg", "pos"]


def test_regressor_card(tmp_path):
    texts, labels = reviews(60)
    target = np.where(labels == "pos", 4.0, 1.0) + np.arange(60) % 3 * 0.1
    reg = ConceptRegressor(max_concepts=4).fit(texts, target)
    text = Path(reg.report(texts[:20], target[:20], tmp_path / "reg.md", plots=False)).read_text()
    assert "| R² |" in text and "| MAE |" in text and "Confusion" not in text
    # each figure with how well these 20 test texts know it, as the classifier's accuracy has its ±
    m = nlmodels.report.card_data(reg, texts[:20], target[:20])["metrics"]
    for name in ("r2", "mae", "rmse"):
        low, high = m[f"{name}_95"]
        assert low <= m[name] <= high and low < high
        assert f"{m[name]:.3f} (95% interval {low:.3f} to {high:.3f})" in text
    assert "R² lies between" in text[text.index("## Limitations"):]
    # a test text's target and prediction are shown rounded, and called a target, not a label
    examples = re.findall(r"^- \d\.\d\d · (\w+) (\S+), predicted (\S+): ", text, flags=re.M)
    assert examples and all(word == "target" for word, _, _ in examples)
    predicted = dict(zip(texts[:20], reg.predict(texts[:20])))
    for _, truth, guess in examples:
        assert len(guess.rstrip(":")) <= 7 and truth.rstrip(",") in {f"{v:.4g}" for v in target[:20]}
    assert any(float(guess) == pytest.approx(p, abs=5e-4 * max(1, abs(p))) for p in predicted.values()
               for _, _, guess in examples)


def test_html_card_is_self_contained_and_escaped(model, data, tmp_path):
    _, _, X, y = data
    page = Path(model.report(X, y, tmp_path / "card.html", explain_text=HOSTILE)).read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "http://" not in page and "https://" not in page and "src='data:image/png;base64," in page
    assert page.count("data:image/png;base64,") == 2


# ---------------------------------------------------------------------- cards of rule lists and trees
@pytest.fixture(scope="module")
def spam():
    from sklearn.model_selection import train_test_split

    from nlmodels.data import load_sms_spam_sample

    sample = load_sms_spam_sample()
    train, test = train_test_split(sample, test_size=0.25, stratify=sample.label, random_state=0)
    return list(train.text), np.asarray(train.label), list(test.text), np.asarray(test.label)


@pytest.mark.parametrize("make", [lambda: nlmodels.RuleListClassifier(max_rules=5),
                                  lambda: nlmodels.ConceptTreeClassifier(max_depth=2)])
def test_each_rule_is_measured_on_held_out_texts_and_carded(make, spam, tmp_path):
    """The printed precision of a rule is on the texts it was chosen on; evaluate_rules and the card
    measure each rule on texts the model never saw, with the conditions exactly as printed."""
    texts, labels, X, y = spam
    model = make().fit(texts, labels)
    table = model.evaluate_rules(X, y)
    printed = str(model)
    shown = model.rule_texts() if hasattr(model, "rules_") else list(model.paths().values())
    assert list(table.rule) == shown
    # in printed order: the rows' training precision and count read as the printed lines do, top to bottom
    assert [f"precision {p:.2f}, {n} training texts" for p, n in zip(table.training_precision, table.training_texts)] \
        == re.findall(r"precision \d\.\d\d, \d+ training texts", printed)
    assert table.texts.sum() == len(X)                                   # every test text decided once
    hits = np.nansum(table.precision * table.texts)
    assert hits == pytest.approx((model.predict(X) == y).sum())          # the rows add up to the accuracy
    for row in table.itertuples():
        if row.texts:
            assert row.interval[0] <= row.precision <= row.interval[1]
        assert f"precision {row.training_precision:.2f}, {row.training_texts} training texts" in printed
    decided = model.explain(X)
    column = "rule_text" if "rule_text" in decided else "path"
    assert sorted(decided[column].value_counts().items()) == sorted((r, n) for r, n in zip(table.rule, table.texts) if n)

    page = Path(model.report(X, y, tmp_path / "card.html")).read_text()
    text = Path(model.report(X, y, tmp_path / "card.md")).read_text()
    assert "data:image" not in page and not list(tmp_path.glob("*.png"))   # no weights to draw
    for row in table.itertuples():
        cell = "–" if not row.texts else f"{row.precision:.3f} ({row.interval[0]:.2f}–{row.interval[1]:.2f})"
        assert f"| {row.texts} | {cell} |" in text
    for heading in ("## Rules", "Fidelity: how each measurement was checked", "## Limitations",
                    "## The model as printed", "decided by:"):
        assert heading in text, heading
    assert "the printed training precision overstates it" in text and "<h2>Rules</h2>" in page
    assert model.n_gated_signals_ > 0 and f"never tested: {model.n_gated_signals_} candidate signal" in text
    assert "failed: no weight" not in text
    with pytest.raises(ValueError, match="2 texts but y has 1 labels"):
        model.evaluate_rules(X[:2], y[:1])
    with pytest.raises(ValueError, match="missing text .* at row 1"):
        model.evaluate_rules([X[0], None], y[:2])
    with pytest.raises(NotFittedError):
        make().evaluate_rules(X[:2], y[:2])


# ---------------------------------------------------------------------- the card in a real browser
def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed (apt-get install chromium); CI installs it and runs this test")


class DevTools:
    """A minimal Chrome DevTools Protocol client over a websocket (stdlib only)."""

    def __init__(self, ws_url: str):
        u = urlparse(ws_url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.events: list[dict] = []
        self.last_id = 0

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("DevTools connection closed")
            data += chunk
        return data

    def _send(self, message: dict) -> None:
        data = json.dumps(message).encode()
        mask = os.urandom(4)
        n = len(data)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
                                  if n < 65536 else bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _receive(self) -> dict:
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            if b0 & 0x0F == 0x8:
                raise ConnectionError("DevTools closed the connection")
            if b0 & 0x0F in (0x9, 0xA):  # ping / pong
                continue
            message += payload
            if b0 & 0x80:
                return json.loads(message)

    def call(self, method: str, **params):
        self.last_id += 1
        self._send({"id": self.last_id, "method": method, "params": params})
        while True:
            message = self._receive()
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive())
        raise TimeoutError(f"no {method} within {timeout} s")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium with the DevTools protocol on a free local port."""
    binary = _chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    log = open(profile.parent / "chromium.log", "wb")
    process = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--window-size=1200,1600", "about:blank"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    port_file = profile / "DevToolsActivePort"
    deadline = time.time() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail("chromium did not start:\n" + (profile.parent / "chromium.log").read_text()[-3000:])
        time.sleep(0.2)
    port = int(port_file.read_text().split()[0])

    def open_page(url: str):
        """Load ``url`` in a new tab; return (errors seen, screenshot PNG bytes, DevTools session)."""
        request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
        target = json.loads(urllib.request.urlopen(request, timeout=30).read())
        tab = DevTools(target["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            tab.call(f"{domain}.enable")
        tab.call("Emulation.setDeviceMetricsOverride", width=1200, height=1600, deviceScaleFactor=1, mobile=False)
        tab.call("Page.navigate", url=url)
        tab.wait_for("Page.loadEventFired")
        tab.call("Runtime.evaluate", expression="new Promise(r => setTimeout(r, 300))", awaitPromise=True)
        errors = []
        for event in tab.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(params["entry"]["text"])
        shot = base64.b64decode(tab.call("Page.captureScreenshot", format="png")["data"])
        return errors, shot, tab

    yield open_page
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def _pixels(png: bytes) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]


def test_the_browser_check_sees_console_errors(browser, tmp_path):
    """Negative control: a page with a console error, an exception and a missing image is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body><p>x</p>"
                    "<img src='missing.png'><script>console.error('boom'); undefinedFunction();</script></body></html>")
    errors, shot, _ = browser(page.as_uri())
    assert any("boom" in e for e in errors), errors  # console.error
    assert any("undefinedFunction" in e or "Uncaught" in e for e in errors), errors  # an exception
    assert any("ERR_FILE_NOT_FOUND" in e or "Failed to load resource" in e for e in errors), errors  # missing image
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body></body></html>")
    errors, shot, _ = browser(blank.as_uri())
    assert errors == [] and _pixels(shot).std() < 0.01  # a blank page reads as blank


def test_html_card_renders_in_chromium_without_errors(browser, model, data, tmp_path):
    _, _, X, y = data
    path = Path(model.report(X, y, tmp_path / "card.html", explain_text=HOSTILE))
    errors, shot, tab = browser(path.as_uri())
    assert errors == [], errors
    pixels = _pixels(shot)
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels.std() > 0.05 and (pixels.mean(axis=2) < 0.5).mean() > 0.005  # text and plots, not blank
    found = tab.call("Runtime.evaluate", returnByValue=True, expression=(
        "JSON.stringify({rows: document.querySelectorAll('table.concepts tr').length - 1,"
        " images: Array.from(document.images).map(i => i.complete && i.naturalWidth > 0),"
        " title: document.title, scripts: document.scripts.length,"
        " hostile: document.body.innerText.includes(\"<script>alert('x')</script>\")})"))["result"]["value"]
    found = json.loads(found)
    assert found["rows"] == len(model.concepts_)
    assert found["images"] == [True, True]  # both plots decode
    assert found["scripts"] == 0 and found["hostile"]  # the hostile test text shows as text, never runs
    assert found["title"] == "Model card: ConceptClassifier"


def test_rule_list_card_renders_in_chromium_without_errors(browser, spam, tmp_path):
    texts, labels, X, y = spam
    model = nlmodels.RuleListClassifier(max_rules=3).fit(texts, labels)
    path = Path(model.report(X, y, tmp_path / "card.html", explain_text=HOSTILE))
    errors, shot, tab = browser(path.as_uri())
    assert errors == [], errors
    assert (_pixels(shot).mean(axis=2) < 0.5).mean() > 0.005       # text, not a blank page
    found = json.loads(tab.call("Runtime.evaluate", returnByValue=True, expression=(
        "JSON.stringify({headings: Array.from(document.querySelectorAll('h2')).map(h => h.innerText),"
        " rules: Array.from(document.querySelectorAll('h2 + p + table tr')).slice(1).map(r => r.cells[1].innerText),"
        " scripts: document.scripts.length,"
        " hostile: document.body.innerText.includes(\"<script>alert('x')</script>\")})"))["result"]["value"])
    assert "Rules" in found["headings"] and found["scripts"] == 0 and found["hostile"]
    assert found["rules"] == model.rule_texts()                       # each rule as printed, check included


# ---------------------------------------------------------------------- plots
def test_weight_plot_and_waterfall_add_up(model):
    fig = model.plot_weights()
    assert isinstance(fig, Figure)
    bars = fig.axes[0].patches
    S = model.n_signals_
    weights = model.coef_[0].reshape(-1, S).sum(axis=1)
    assert sorted(b.get_width() for b in bars) == pytest.approx(sorted(weights))

    text = "a brilliant film with a dull ending"
    fig = model.plot_explanation(text, top=2)
    bars = fig.axes[0].patches
    steps, total = bars[:-1], bars[-1]
    decision = model.decision_function([text])[0]
    assert total.get_width() == pytest.approx(decision)
    assert sum(b.get_width() for b in steps) == pytest.approx(decision)
    assert steps[0].get_width() == pytest.approx(model.intercept_[0])
    assert len(steps) == 1 + 2 + 1  # intercept, two concepts, "other concepts"
    first = model.classes_[0]   # two classes: the weights and contributions point toward classes_[1]
    for draw in (lambda: model.plot_weights(target=first), lambda: model.plot_explanation(text, target=first)):
        with pytest.raises(ValueError, match="contributions point toward"):
            draw()
    # the "N other concepts" bar counts the concepts that add something, not those that add exactly 0
    parts = model.explain([text]).iloc[0].drop("intercept")
    rest = parts.iloc[np.argsort(-np.abs(parts.to_numpy()), kind="stable")[2:]]
    labels = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_yticklabels()]
    n = int(np.count_nonzero(rest.to_numpy()))
    assert any(label.startswith(f"{n} other concept") for label in labels), labels
    png = nlmodels.report.plots.figure_png(fig)
    assert png[:4] == b"\x89PNG"


def _label_checks(fig, signals=("similar", "mentions")) -> dict:
    """Each bar label's concept (its first lines, up to the one that starts with a signal's check)
    -> the rest (its check), from the y tick labels."""
    out = {}
    for ax in fig.axes:
        for tick in ax.get_yticklabels():
            lines = tick.get_text().split("\n")
            first = next((i for i, line in enumerate(lines) if line.startswith(tuple(f"{s}:" for s in signals))),
                         len(lines))
            out[" ".join(lines[:first])] = " ".join(lines[first:])
    return out


def test_plots_say_how_each_weighted_bar_was_checked(model):
    # a bar must not show a reason without its check: under each concept with weight, the checks of
    # the signals it is made of, in the printed model's words; none under a concept without weight
    printed, S, names = str(model), model.n_signals_, model.concept_names()
    assert S > 1
    shown = _label_checks(model.plot_weights(top=None))
    weighted = [k for k in range(len(names)) if model.coef_[0, k * S:(k + 1) * S].any()]
    assert weighted and len(shown) == len(names)
    for k, name in enumerate(names):
        label = nlmodels.report.plots._short(name, 180)
        if k not in weighted:
            assert shown[label] == ""
            continue
        parts = shown[label].split("; ")
        assert len(parts) == int((model.coef_[0, k * S:(k + 1) * S] != 0).sum())
        for part in parts:
            signal, check = part.split(": ", 1)
            assert "not faithful" not in check                  # a failed signal never carries weight
            assert re.search(rf"{signal} [+-]\d+\.\d\d \({re.escape(check)}\)", printed), part

    text = "a brilliant film with a dull ending"
    frame = model.explain([text]).iloc[0].drop("intercept")
    steps = _label_checks(model.plot_explanation(text, top=len(names)))
    for name, value in frame.items():
        if value != 0:
            k = names.index(name)
            assert steps[nlmodels.report.plots._short(name, 180)] == model._concept_check(k, model.coef_[0, k * S:(k + 1) * S])
    assert steps["intercept"] == "" and steps["decision value"] == ""


def test_multiclass_plots_and_card(tmp_path):
    texts, labels = topics(12)
    clf = ConceptClassifier(max_concepts=5).fit(texts, labels)
    assert len(clf.plot_weights().axes) == 3 and len(clf.plot_weights(target="sport").axes) == 1
    fig = clf.plot_explanation("the striker scored twice")
    assert fig.axes[0].patches[-1].get_width() == pytest.approx(
        clf.decision_function(["the striker scored twice"])[0, list(clf.classes_).index("sport")])
    with pytest.raises(ValueError, match="not a class"):
        clf.plot_weights(target="weather")
    text = Path(clf.report(texts, labels, tmp_path / "multi.md", plots=False)).read_text()
    assert "weight for sport" in text or "sport " in text


# ---------------------------------------------------------------------- expert edits
def test_edit_removes_and_adds_then_refits_only_the_head(model, data, tmp_path):
    texts, labels, X, y = data
    removed = model.concept_names()[0]
    kept = model.concept_names()[1:]
    before = {name: model.measurer_.centroids_[:, k].copy() for k, name in enumerate(model.concept_names())}
    edited = model.edit(remove=[removed], add=["Does the review praise the film?", ["tedious", "lifeless", "clumsy"]],
                        author="Dr. Expert", note="too broad")
    with pytest.raises(NotFittedError):
        edited.predict(X)
    with pytest.raises(ValueError, match="refit_head"):
        edited.to_json()
    assert edited.refit_head(texts, labels) is edited
    names = edited.concept_names()
    assert removed not in names
    assert model.concept_names()[0] == removed and hasattr(model, "coef_")  # the original is untouched
    assert all(c.source == "expert" for c in edited.concepts_ if c.text not in set(kept))
    for k, name in enumerate(names):  # kept concepts keep their measurement: only the head moved
        if name in before:
            np.testing.assert_array_equal(edited.measurer_.centroids_[:, k], before[name])
    entry = edited.edits_[-1]
    assert entry["author"] == "Dr. Expert" and entry["removed"] == [removed]
    assert entry["added"] == ["Does the review praise the film?", "mentions something like: 'tedious', 'lifeless', 'clumsy'"]
    assert entry["refit"]["n_texts"] == len(texts)
    assert set(entry["refit"]["dropped"]) == set(model.concept_names()[1:] + entry["added"]) - set(names)
    assert (edited.predict(X) == y).mean() >= 0.8
    np.testing.assert_allclose(edited.explain(X[:3]).sum(axis=1), edited.decision_function(X[:3]), atol=1e-12)

    # the history travels with the model: JSON, reload, card
    loaded = nlmodels.load(edited.to_json(tmp_path / "edited.json"))
    assert loaded.edits_ == json.loads(json.dumps(edited.edits_))
    assert np.abs(loaded.predict_proba(X) - edited.predict_proba(X)).max() == 0
    card = Path(loaded.report(X, y, tmp_path / "edited.md", plots=False)).read_text()
    assert "Dr. Expert" in card and "too broad" in card and "removed: " + removed.replace("|", "\\|") in card


def test_edit_rejects_what_it_cannot_do(model):
    with pytest.raises(ValueError, match="no concept 'not a concept'"):
        model.edit(remove=["not a concept"])
    with pytest.raises(ValueError, match="no concept number 99"):
        model.edit(remove=[99])
    with pytest.raises(ValueError, match="already has"):
        model.edit(add=[model.concepts_[0].text])
    with pytest.raises(ValueError, match="nothing to edit"):
        model.edit()
    with pytest.raises(TypeError, match="cannot make a concept"):
        model.edit(add=[3.5])


def test_refit_head_alone_is_recorded(model, data):
    texts, labels, _, _ = data
    import copy

    again = copy.deepcopy(model).refit_head(texts[:60], labels[:60])
    assert again.edits_[-1]["note"] == "head refitted" and again.edits_[-1]["refit"]["n_texts"] == 60


def test_the_card_does_not_overstate_what_its_test_texts_and_head_rest_on(model, data, tmp_path):
    import copy

    from scipy.stats import binomtest

    from nlmodels.report.card_render import render_markdown

    texts, labels, test_texts, test_labels = data
    right = [i for i, (t, y) in enumerate(zip(test_texts, test_labels)) if model.predict([t])[0] == y][:5]
    assert len(right) == 5
    card = nlmodels.report.card_data(model, [test_texts[i] for i in right], [test_labels[i] for i in right])
    expected = binomtest(5, 5).proportion_ci(method="wilson")   # 5 of 5 right is not accuracy known exactly
    assert card["metrics"]["accuracy"] == 1.0
    assert card["metrics"]["accuracy_95"] == pytest.approx([expected.low, expected.high]) and expected.low < 0.6
    md = render_markdown(card, {})
    assert f"1.000 (95% interval {expected.low:.3f} to 1.000)" in md and "±0.000" not in md and "± 0.000" not in md
    assert card["explain_chosen"] == "the first test text (it got none wrong)" and "(it got none wrong)" in md

    # refit_head on other texts: the weights rest on those, and the card's Data section says so
    refitted = copy.deepcopy(model).refit_head(texts[:50], labels[:50])
    card = nlmodels.report.card_data(refitted, test_texts, test_labels)
    shares = {c["label"]: c["count"] for c in card["training"]["head_refitted_on"]["classes"]}
    assert shares == {y: int((np.asarray(labels[:50]) == y).sum()) for y in ("neg", "pos")}
    md = render_markdown(card, {})
    assert "| head refitted on | 50 texts (" in md and "| their class balance | neg: " in md
    assert card["training"]["n_texts"] == 80   # the concepts still come from the first fit's texts
    assert "head_refitted_on" not in nlmodels.report.card_data(model, test_texts, test_labels)["training"]


def test_plot_labels_keep_apart_concepts_that_differ_late_in_their_sentence():
    from nlmodels.report.plots import _name_lines, _short

    up = "Does the text report that the sales, revenue or operating profit of the company increased?"
    down = up.replace("increased", "decreased")
    assert _short(up, 60) == _short(down, 60)             # one line of 60 characters made them one label
    assert _name_lines(up, 60) != _name_lines(down, 60)   # three lines keep them apart
    assert " ".join(_name_lines(up, 60).split("\n")) == up and max(map(len, _name_lines(up, 60).split("\n"))) <= 60
