"""What the commands share: the models the CLI fits, reading CSV files, one-line usage errors."""

from __future__ import annotations

import sys
from pathlib import Path

from .._codec import counted

# --model name -> (module, class). Other estimators join here once they can be exported to JSON.
MODELS = {
    "concept": ("nlmodels.models", "ConceptClassifier"),
    "concept-regressor": ("nlmodels.models", "ConceptRegressor"),
    "rulelist": ("nlmodels.models", "RuleListClassifier"),
    "tree": ("nlmodels.models", "ConceptTreeClassifier"),
    "auglinear": ("nlmodels.models", "AugLinearClassifier"),
    "auglinear-regressor": ("nlmodels.models", "AugLinearRegressor"),
}
MODEL_HELP = ("concept: ConceptClassifier, weighted concepts (labels are classes); concept-regressor: ConceptRegressor "
              "(labels are numbers); rulelist: RuleListClassifier, if-then rules over concepts; tree: "
              "ConceptTreeClassifier, a shallow tree over concepts; auglinear: AugLinearClassifier, one number per "
              "n-gram from its embedding; auglinear-regressor: AugLinearRegressor. Default: concept")

EPILOG = """examples:
  nlmodels fit train.csv --text-column text --label-column label --model concept --out model.json
  nlmodels fit train.csv --model rulelist --max-rules 8 --out rules.json
  nlmodels predict model.json new.csv --out predictions.csv
  nlmodels explain model.json "WINNER!! claim your free prize now"
  nlmodels report model.json test.csv --out card.html
  nlmodels plot weights model.json --out weights.png
  nlmodels plot explain model.json "some text" --out explanation.png
  nlmodels edit model.json train.csv --remove 3 --add "Does the text ask for money?" --author "A. Auditor" --out edited.json
  nlmodels diff a.csv b.csv --text-column text --out report.html
  nlmodels explain-model pipeline.joblib texts.csv --max-concepts 10 --out surrogate.json

Chat models: --chat-model/--base-url at fit time; the key is read from OPENAI_API_KEY and is never
written to any file. The fit prints its chat calls and tokens first, and asks above --confirm-above
requests (--yes: do not ask; with no terminal it stops unless --yes). Set NLMODELS_CACHE_DIR to choose where answers and embeddings are cached.
"""


class UsageError(Exception):
    """A problem with the command's input: reported in one line, exit status 2."""


def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- reading inputs
def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} not found: {path}")
    if not p.is_file():
        raise UsageError(f"{what} is not a file: {path}")
    return p


def _read_table(path: str, sep: str | None, columns: list[tuple[str, str]]):
    """Read a CSV/TSV and check that the named columns exist; ``columns`` = [(option, name)]."""
    import pandas as pd

    p = _existing(path, "data file")
    if sep is None:
        sep = "\t" if p.suffix.lower() in (".tsv", ".tab") else ","
    try:
        frame = pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path} as a table (separator {sep!r}): {error}") from None
    for option, name in columns:
        if name not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:20])) + (" …" if len(frame.columns) > 20 else "")
            raise UsageError(f"column {name!r} (given by {option}) not found in {path}; its columns are: {shown}")
    if frame.empty:
        raise UsageError(f"{path} has a header but no data row")
    return frame


def _texts(frame, column: str, path: str) -> list[str]:
    values = frame[column]
    bad = values.isna() | (values.str.strip() == "")
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise UsageError(f"{path}: column {column!r} is empty at data row {row} (line {row + 2} of the file)")
    return values.tolist()


def _labels(frame, column: str, path: str, regression: bool):
    """Labels as read; whole numbers become ints (so 0/1 labels stay numbers), the rest stay text."""
    import numpy as np

    values = frame[column]
    if values.isna().any():
        row = int(values.isna().to_numpy().nonzero()[0][0])
        raise UsageError(f"{path}: column {column!r} has no label at data row {row} (line {row + 2} of the file)")
    if regression:
        try:
            return values.astype(float).to_numpy()
        except ValueError as error:
            raise UsageError(f"{path}: column {column!r} must be numeric for a regressor: {error}") from None
    if values.str.fullmatch(r"\s*-?\d{1,18}\s*").all():
        return values.astype(np.int64).to_numpy()
    return np.asarray(values.tolist(), dtype=str)


def _load_model(path: str, args=None):
    from ..models import load

    _existing(path, "model file")
    llm = None
    if args is not None and getattr(args, "base_url", None):
        from ..llm import ChatModel
        import json as _json

        record = _json.loads(Path(path).read_text(encoding="utf-8")).get("chat_model") or {}
        llm = ChatModel(args.chat_model or record.get("model"), base_url=args.base_url)
    try:
        return load(path, llm=llm)
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot load the model {path}: {error}") from None


def _check_out(path: str, suffixes: tuple[str, ...], option: str = "--out") -> Path:
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{option} must end in {' or '.join(suffixes)}, got {path!r}")
    if p.parent and not p.parent.exists():
        raise UsageError(f"folder of {option} does not exist: {p.parent}")
    return p


def _in_chunks(fn, texts, desc, quiet, size=256):
    """Apply ``fn`` to texts in chunks with a progress bar (shown from 2 chunks on)."""
    import numpy as np
    from tqdm.auto import tqdm

    chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
    with tqdm(total=len(texts), desc=desc, disable=quiet or len(chunks) < 2, file=sys.stderr, leave=False) as bar:
        out = []
        for chunk in chunks:
            out.append(fn(chunk))
            bar.update(len(chunk))
    return np.concatenate(out)


# ---------------------------------------------------------------------- commands
def _fit_params(cls, args) -> tuple[dict, str]:
    """Constructor parameters from the options, and a few words on them. An option the estimator
    has no parameter for is refused, not silently dropped."""
    from ..models._pipeline import resolve_measure

    accepted = cls().get_params(deep=False)
    params = {}
    given = [("--max-concepts", "max_concepts", args.max_concepts), ("--max-rules", "max_rules", args.max_rules),
             ("--max-depth", "max_depth", args.max_depth), ("--measure", "measure", args.measure),
             ("--concept", "concepts", list(args.concept) if args.concept else None),
             ("--random-state", "random_state", args.random_state)]
    if args.chat_model or args.base_url:
        from ..llm import ChatModel

        given.append(("--chat-model/--base-url", "llm",
                      ChatModel(args.chat_model, base_url=args.base_url, batch=args.batch)))
    elif args.batch:
        raise UsageError("--batch needs a chat model: give --chat-model and/or --base-url")
    for option, name, value in given:
        if value is None:
            continue
        if name not in accepted:
            raise UsageError(f"{option} does not apply to --model {args.model} ({cls.__name__} has no {name})")
        params[name] = value
    if "llm" not in params and params.get("measure", "embedding") != "embedding":
        raise UsageError(f"--measure {args.measure} needs a chat model: give --chat-model and/or --base-url")
    if "random_state" in accepted:
        params.setdefault("random_state", 0)
    value = {**accepted, **params}
    details = []
    if "max_concepts" in accepted:
        details.append("concept budget auto" if value['max_concepts'] == "auto" else f"max {counted(value['max_concepts'], 'concept')}")
    if "max_rules" in accepted:
        details.append(f"max {value['max_rules']} rules")
    if "max_depth" in accepted:
        details.append(f"depth at most {value['max_depth']}")
    if "measure" in accepted:
        details.append(f"measured by {resolve_measure(value['measure'], value.get('llm'))}")
    if "ngram_range" in accepted:
        details.append(f"{value['ngram_range'][0]}-{value['ngram_range'][1]}-grams")
    return params, ", ".join(details)


def _fitted_summary(model) -> str:
    if hasattr(model, "_conditions"):   # a rule list or a tree: its printed first line counts what it tests
        return str(model).splitlines()[0]
    if hasattr(model, "vocabulary_"):
        return f"{len(model.vocabulary_):,} n-grams seen in training"
    return counted(len(model.concepts_), 'concept')
