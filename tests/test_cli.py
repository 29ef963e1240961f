"""The ``nlmodels`` command line, end to end on a 300-row sample of the shared SMS spam data.

The fit and the card run as real subprocesses (the installed entry point's module); the other
commands run in-process through ``main`` on the fitted file, which is the same code path, faster.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nlmodels
from nlmodels.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "sms_spam"


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "nlmodels.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    if (DATA / "train.csv").exists():
        train = pd.read_csv(DATA / "train.csv").sample(300, random_state=0)
        test = pd.read_csv(DATA / "test.csv").sample(80, random_state=0)
    else:  # a checkout without shared/ beside it: the bundled 1,000-row sample of the same training split
        from nlmodels.data import load_sms_spam_sample

        sample = load_sms_spam_sample().sample(380, random_state=0)
        train, test = sample.iloc[:300], sample.iloc[300:]
    train.rename(columns={"text": "message", "label": "kind"}).to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    test[["text"]].to_csv(folder / "new.csv", index=False)
    fitted = run("fit", folder / "train.csv", "--text-column", "message", "--label-column", "kind",
                 "--model", "concept", "--max-concepts", "8", "--out", folder / "model.json")
    assert fitted.returncode == 0, fitted.stderr
    assert "read 300 texts" in fitted.stderr and "wrote" in fitted.stderr
    return folder


def test_fit_writes_a_loadable_model(files):
    model = nlmodels.load(files / "model.json")
    assert list(model.classes_) == ["ham", "spam"] and 1 <= len(model.concepts_) <= 8
    doc = json.loads((files / "model.json").read_text())
    assert doc["training_data"]["n_texts"] == 300


def test_predict_writes_predictions_equal_to_the_model(files, capsys):
    assert main(["predict", str(files / "model.json"), str(files / "new.csv"), "--out", str(files / "pred.csv"), "-q"]) == 0
    out = pd.read_csv(files / "pred.csv")
    assert list(out.columns) == ["text", "prediction", "proba_ham", "proba_spam"]
    model = nlmodels.load(files / "model.json")
    texts = pd.read_csv(files / "new.csv")["text"].tolist()
    assert list(out["prediction"]) == list(model.predict(texts))
    np.testing.assert_allclose(out[["proba_ham", "proba_spam"]].to_numpy(), model.predict_proba(texts), rtol=1e-12)
    test = pd.read_csv(files / "test.csv")
    assert (out["prediction"] == test["label"]).mean() > 0.85

    assert main(["predict", str(files / "model.json"), str(files / "new.csv"), "-q"]) == 0  # to stdout
    assert capsys.readouterr().out.startswith("text,prediction,proba_ham,proba_spam")


def test_explain_adds_up_to_the_decision_value(files, capsys):
    text = "WINNER!! You have won a free prize, call 09061701461 now"
    assert main(["explain", str(files / "model.json"), text, "--json", "--top", "3"]) == 0
    record = json.loads(capsys.readouterr().out)
    model = nlmodels.load(files / "model.json")
    total = record["intercept"] + sum(c["contribution"] for c in record["contributions"]) + record["others"]
    assert total == pytest.approx(record["decision_value"]) and len(record["contributions"]) == 3
    assert record["decision_value"] == pytest.approx(model.decision_function([text])[0])
    assert record["prediction"] == "spam"
    assert main(["explain", str(files / "model.json"), text]) == 0
    printed = capsys.readouterr().out
    assert "prediction: spam" in printed and "intercept" in printed and model.concept_names()[0][:20] in printed
    # each contribution says how its concept's measurements were checked, as str(model) does
    model_text = str(model)
    for c in record["contributions"]:
        assert c["check"] and f"{c['concept']}  ({c['check']})" in printed
        assert model.n_signals_ > 1       # this fixture: several signals, each named in the check
        for part in c["check"].split("; "):
            signal, check = part.split(": ", 1)
            assert re.search(rf"{signal} [+-]\d+\.\d\d \({re.escape(check)}\)", model_text), part


def test_explain_lists_the_phrases_its_concepts_read_that_their_names_do_not_show(files, capsys):
    model = nlmodels.load(files / "model.json")
    names = model.concept_names()
    text = "Nokia camcorder for you: txt CAMERA to 80878, free delivery, call the mobile line now"
    assert main(["explain", str(files / "model.json"), text, "--json", "--top", str(len(names))]) == 0
    record = json.loads(capsys.readouterr().out)
    decided = [names.index(c["concept"]) for c in record["contributions"] if c["contribution"]]
    expected = {names[k]: list(model.concepts_[k].phrases[5:]) for k in decided if len(model.concepts_[k].phrases) > 5}
    assert expected, "no concept with more than five phrases decided: this test needs one"
    assert record["unshown_phrases"] == expected
    assert main(["explain", str(files / "model.json"), text, "--top", str(len(names))]) == 0
    printed = capsys.readouterr().out.splitlines()
    start = printed.index("phrases these concepts read that their names do not show:")
    listed = " ".join(line.strip() for line in printed[start + 1:] if line)
    assert all(f"'{p}'" in listed for phrases in expected.values() for p in phrases)


def test_report_writes_a_card_end_to_end(files):
    done = run("report", files / "model.json", files / "test.csv", "--out", files / "card.html")
    assert done.returncode == 0, done.stderr
    page = (files / "card.html").read_text()
    assert "Model card: ConceptClassifier" in page and "Confusion matrix" in page
    model = nlmodels.load(files / "model.json")
    assert all(name.replace("'", "&#x27;") in page for name in model.concept_names())


def test_plots_are_written_as_png(files, capsys):
    assert main(["plot", "weights", str(files / "model.json"), "--out", str(files / "w.png"), "-q"]) == 0
    assert main(["plot", "explain", str(files / "model.json"), "free entry to win", "--out", str(files / "x.png"),
                 "-q"]) == 0
    for name in ("w.png", "x.png"):
        assert (files / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_edit_from_the_command_line(files, capsys):
    from nlmodels.report import card_data

    model = nlmodels.load(files / "model.json")
    train = pd.read_csv(files / "train.csv")
    rows = card_data(model, train.message, train.kind)["concepts"]   # the card's rows, strongest first
    i = next(i for i, row in enumerate(rows) if row["index"] != i)   # a row whose # is not its place on the page
    number, name = rows[i]["index"], rows[i]["name"]
    capsys.readouterr()
    assert main(["edit", str(files / "model.json"), str(files / "train.csv"), "--text-column", "message",
                 "--label-column", "kind", "--remove", str(number), "--add-phrases", "prize,winner,claim",
                 "--author", "auditor", "--note", "cli test", "--out", str(files / "edited.json")]) == 0
    said = capsys.readouterr()
    assert f"removed: {name}" in said.out + said.err   # the concept the card numbered so, said by name
    edited = nlmodels.load(files / "edited.json")
    entry = edited.edits_[-1]
    assert entry["author"] == "auditor" and entry["removed"] == [name] == [model.concept_names()[number]]
    assert entry["added"] == ["mentions something like: 'prize', 'winner', 'claim'"]


def test_input_errors_exit_2_with_one_clear_line(files, capsys):
    missing = run("predict", files / "model.json", files / "nowhere.csv", "--out", files / "p.csv")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "data file not found" in missing.stderr and "nowhere.csv" in missing.stderr

    cases = [
        (["fit", str(files / "train.csv"), "--out", str(files / "m.json")], "column 'text' (given by --text-column)"),
        (["fit", str(files / "train.csv"), "--text-column", "message", "--label-column", "labels",
          "--out", str(files / "m.json")], "column 'labels' (given by --label-column) not found"),
        (["report", str(files / "model.json"), str(files / "new.csv"), "--out", str(files / "c.html")],
         "column 'label'"),
        (["explain", str(files / "missing.json"), "hello"], "model file not found"),
        (["report", str(files / "model.json"), str(files / "test.csv"), "--out", str(files / "c.pdf")], "must end in .html or .htm or .md"),
        (["explain", str(files / "model.json"), "hi", "--target", "eggs"], "'eggs' is not a class"),
        (["predict", str(files / "train.csv"), str(files / "new.csv")], "not valid JSON"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    (files / "header_only.csv").write_text("text\n")
    assert main(["predict", str(files / "model.json"), str(files / "header_only.csv")]) == 2
    assert "header_only.csv has a header but no data row" in capsys.readouterr().err   # was a numpy message
    assert main(["explain", str(files / "model.json"), "hi", "--target", "ham"]) == 2   # two classes: toward spam
    assert "contributions point toward 'spam' (classes_[1])" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:   # refused before "fitting ... on -50% of them"
        main(["explain-model", str(files / "model.json"), str(files / "new.csv"), "--test-size", "1.5"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "must be a share strictly between 0 and 1, got '1.5'" in err and "%" not in err
    (files / "empty_row.csv").write_text("text\nhello\n\"\"\n")
    assert main(["predict", str(files / "model.json"), str(files / "empty_row.csv")]) == 2
    assert "empty at data row 1 (line 3 of the file)" in capsys.readouterr().err


def test_help_explains_every_option():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == {"fit", "predict", "explain", "report", "plot", "edit", "diff", "explain-model"}
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"nlmodels {name}: {action.option_strings or action.dest} has no help"
    done = run("--help")
    assert done.returncode == 0 and "nlmodels fit" in done.stdout and "OPENAI_API_KEY" in done.stdout
    fit_help = subparsers["fit"].format_help()
    assert "--text-column" in fit_help and "--label-column" in fit_help and "--max-concepts" in fit_help
    said = dict(re.findall(r"--(max-\w+) N\s+.*?\(default: (\w+)", " ".join(fit_help.split())))
    # the defaults the help gives are the estimators' own (it said 30 for max_concepts, which is "auto")
    assert said == {"max-concepts": str(nlmodels.ConceptClassifier().max_concepts),
                    "max-rules": str(nlmodels.RuleListClassifier().max_rules),
                    "max-depth": str(nlmodels.ConceptTreeClassifier().max_depth)}, said


def test_fit_with_chat_model_prints_the_cost_and_asks_above_the_threshold(tmp_path, fake_llm, capsys, monkeypatch):
    import io

    from textsets import answer_review_questions, reviews

    def scripted(messages, body):
        if "yes/no questions" in messages[-1]["content"]:
            return json.dumps({"questions": ["Does the text praise something?", "Does it complain?"]})
        return answer_review_questions(messages)

    server = fake_llm(scripted)
    texts, labels = reviews(30)
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "train.csv", index=False)
    monkeypatch.setenv("NLMODELS_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["fit", str(tmp_path / "train.csv"), "--measure", "llm", "--chat-model", "fake", "--base-url",
            server.base_url, "--out", str(tmp_path / "m.json"), "--confirm-above", "10"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal, as in CI
    assert main(argv) == 2
    err = capsys.readouterr().err
    requests = 2 + len(set(texts))
    assert f"{requests} requests" in err and "pass --yes" in err and server.count() == 0  # stopped before a call
    assert main(argv + ["--yes", "-q"]) == 0 and server.count() == requests  # the estimate was exact
    assert main(argv[:-2] + ["-q"]) == 0 and server.count() == requests  # refit: 0 requests, below the threshold
    assert main(argv[:1] + ["--batch"] + argv[1:2] + ["--out", str(tmp_path / "x.json")]) == 2
    assert "--batch needs a chat model" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["nlmodels", "nlmodels.cli"])
def test_python_dash_m_runs_the_command_line(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in ("fit", "predict", "explain", "report", "explain-model"))


def test_a_regressor_is_fitted_and_explained_with_its_prediction_rounded(tmp_path, capsys):
    from textsets import reviews

    texts, labels = reviews(40)
    score = np.where(labels == "pos", 4.0, 1.0) + np.arange(40) % 7 / 7
    pd.DataFrame({"text": texts, "score": score}).to_csv(tmp_path / "rated.csv", index=False)
    assert main(["fit", str(tmp_path / "rated.csv"), "--label-column", "score", "--model", "concept-regressor",
                 "--out", str(tmp_path / "reg.json"), "-q"]) == 0
    model = nlmodels.load(tmp_path / "reg.json")
    assert main(["explain", str(tmp_path / "reg.json"), texts[0]]) == 0
    out = capsys.readouterr().out
    assert f"prediction: {model.predict([texts[0]])[0]:.4g}\n" in out   # not 17 digits
