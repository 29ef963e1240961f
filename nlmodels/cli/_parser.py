"""The argument parser of every command."""

from __future__ import annotations

import argparse

from ._commands import (cmd_diff, cmd_edit, cmd_explain, cmd_explain_model, cmd_fit, cmd_plot, cmd_predict,
                        cmd_report)
from ._common import EPILOG, MODEL_HELP, MODELS


def _fraction(value: str) -> float:
    """A --test-size: a share strictly between 0 and 1, refused by argparse (exit 2) before any work."""
    try:
        share = float(value)
    except ValueError:
        share = float("nan")
    if not 0 < share < 1:
        raise argparse.ArgumentTypeError(f"must be a share strictly between 0 and 1, got {value!r}")
    return share


def _data_options(p, *, label: bool) -> None:
    p.add_argument("--text-column", default="text", metavar="NAME",
                   help="column of the data file that holds the texts (default: text)")
    if label:
        p.add_argument("--label-column", default="label", metavar="NAME",
                       help="column that holds the labels (classes) or, for a regressor, the numeric target "
                            "(default: label)")
    p.add_argument("--sep", default=None, metavar="CHAR",
                   help="field separator of the data file (default: tab for .tsv, comma otherwise)")


def _quiet(p) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="print no progress messages or bars")


def _chat_options(p, fit: bool) -> None:
    p.add_argument("--chat-model", default=None, metavar="NAME",
                   help="chat model name, e.g. gpt-4o-mini" + (": concepts become yes/no questions it writes"
                        if fit else " (with --base-url: use this instead of the recorded one)"))
    p.add_argument("--base-url", default=None, metavar="URL",
                   help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (default: OPENAI_BASE_URL, "
                        "else OpenAI)" + ("" if fit else "; overrides the server recorded in the model"))


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="nlmodels", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Readable text classifiers and regressors: fit a model from a CSV file, predict, explain a "
                    "prediction, write a model card, plot, or edit its concepts by hand; explain the difference "
                    "between two sets of texts (diff) or a black-box model (explain-model).",
    )
    parser.add_argument("--version", action="version", version=f"nlmodels {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("fit", help="fit a model on a CSV file and write it as JSON",
                       description="Fit a model on the texts and labels of a CSV file; write it as JSON.")
    p.add_argument("data", help="CSV (or TSV) file with a text column and a label column")
    _data_options(p, label=True)
    p.add_argument("--model", choices=sorted(MODELS), default="concept", help=MODEL_HELP)
    p.add_argument("--out", required=True, metavar="MODEL.json", help="where to write the fitted model (JSON)")
    p.add_argument("--max-concepts", type=int, default=None, metavar="N",
                   help="concept, concept-regressor: at most N concepts carry weight in the model (default: auto, as "
                        "max_concepts='auto': an offline classifier chooses it by cross-validation, otherwise 30, "
                        "or two per class above 15 classes)")
    p.add_argument("--max-rules", type=int, default=None, metavar="N",
                   help="rulelist: at most N rules before the final ELSE (default: 10)")
    p.add_argument("--max-depth", type=int, default=None, metavar="N",
                   help="tree: depth of the tree at most N (default: 3)")
    p.add_argument("--measure", choices=("embedding", "llm", "distill"), default=None,
                   help="how texts are scored on each concept: embedding (offline, default), llm (the chat "
                        "model answers every concept for every text), distill (it answers for a sample; "
                        "probes learn the answers)")
    p.add_argument("--concept", action="append", metavar="TEXT",
                   help="a concept written by a person, added to the proposed ones (repeat for several)")
    _chat_options(p, fit=True)
    p.add_argument("--batch", action="store_true",
                   help="send the measurement calls through the provider's Batch API (OpenAI, Azure: half the "
                        "price, answers within 24 h); a killed run started again picks up the same batch")
    p.add_argument("--confirm-above", type=int, default=1000, metavar="N",
                   help="with a chat model the fit first prints its calls and tokens; above N requests it asks "
                        "before going on (default: 1000). Without a terminal (CI) it stops unless --yes")
    p.add_argument("--yes", action="store_true", help="do not ask: proceed whatever the estimated requests")
    p.add_argument("--random-state", type=int, default=None, metavar="N", help="seed (default: 0)")
    p.add_argument("--print", action="store_true", help="print the fitted model")
    _quiet(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="predict the texts of a CSV file",
                       description="Predict every text of a CSV file. The output is the input table plus a "
                                   "'prediction' column and, for a classifier, one 'proba_<class>' column per class.")
    p.add_argument("model", help="model JSON file written by 'nlmodels fit' or model.to_json")
    p.add_argument("data", help="CSV (or TSV) file with a text column")
    _data_options(p, label=False)
    p.add_argument("--out", default="-", metavar="FILE.csv", help="where to write the predictions (default: - for stdout)")
    _chat_options(p, fit=False)
    _quiet(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("explain", help="explain the prediction for one or more texts",
                       description="Show each concept's contribution to a text's decision value; the "
                                   "contributions and the intercept add up exactly to it.")
    p.add_argument("model", help="model JSON file")
    p.add_argument("text", nargs="+", help="the text(s) to explain (quote each one)")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="multiclass: the class whose decision value is explained (default: the predicted class)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="show the N largest contributions; the rest are summed in one line (default: 10)")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    _chat_options(p, fit=False)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("report", help="write a model card (HTML or Markdown) evaluated on a labelled CSV file",
                       description="Write a model card: test metrics, every concept with its weight, how often it "
                                   "fires and where, how it is measured, chat-model usage, data, limitations, edit "
                                   "history. .html gives one self-contained page; .md gives Markdown with two PNG "
                                   "files beside it.")
    p.add_argument("model", help="model JSON file")
    p.add_argument("data", help="labelled CSV (or TSV) file of test texts")
    _data_options(p, label=True)
    p.add_argument("--out", required=True, metavar="CARD.html|CARD.md", help="where to write the card")
    p.add_argument("--title", default=None, help="title of the card (default: 'Model card: <estimator>')")
    p.add_argument("--examples", type=int, default=3, metavar="N",
                   help="test texts shown per concept, where it fires most strongly (default: 3)")
    p.add_argument("--limitation", action="append", metavar="TEXT",
                   help="a limitation to state on the card, besides those found automatically (repeatable)")
    _chat_options(p, fit=False)
    _quiet(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot", help="plot concept weights or one text's explanation as PNG",
                       description="weights: a bar chart of concept weights. explain: a waterfall from the "
                                   "intercept through each concept's contribution to one text's decision value.")
    p.add_argument("kind", choices=("weights", "explain"), help="which plot")
    p.add_argument("model", help="model JSON file")
    p.add_argument("text", nargs="?", default=None, help="for 'explain': the text to explain")
    p.add_argument("--out", required=True, metavar="FILE.png", help="where to write the PNG")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="multiclass: the class to plot (weights default: one panel per class; explain default: "
                        "the predicted class)")
    p.add_argument("--top", type=int, default=None, metavar="N",
                   help="concepts shown (weights default: 30; explain default: 12, the rest summed)")
    p.add_argument("--dpi", type=int, default=110, metavar="N", help="resolution of the PNG (default: 110)")
    _chat_options(p, fit=False)
    _quiet(p)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("edit", help="remove or add concepts by hand and refit only the head",
                       description="Remove concepts and/or add concepts written by a person, refit only the "
                                   "model's head on a labelled CSV file, and write the edited model. The edit "
                                   "(who, what, when) is kept in the model's edit history and shown on its card.")
    p.add_argument("model", help="model JSON file")
    p.add_argument("data", help="labelled CSV (or TSV) file to refit the head on (usually the training data)")
    _data_options(p, label=True)
    p.add_argument("--remove", action="append", metavar="CONCEPT",
                   help="a concept to remove: its text as printed, or its number (the # on the model card: its "
                        "place in the model file's concepts, from 0); the CLI says which it removed (repeatable)")
    p.add_argument("--add", action="append", metavar="QUESTION",
                   help="a concept to add, written as a question or a description (repeatable)")
    p.add_argument("--add-phrases", action="append", metavar="P1,P2,...",
                   help="a concept to add, given as comma-separated phrases: a text shows it when it contains one "
                        "(repeatable)")
    p.add_argument("--author", default=None, help="who made the edit (recorded in the edit history)")
    p.add_argument("--note", default=None, help="why (recorded in the edit history)")
    p.add_argument("--out", required=True, metavar="MODEL.json", help="where to write the edited model")
    p.add_argument("--print", action="store_true", help="print the edited model")
    _chat_options(p, fit=False)
    _quiet(p)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("diff", help="what texts of one CSV file show more often than those of another",
                       description="Propose hypotheses on part of each file's texts ('texts of A, more often than "
                                   "texts of B, mention ...') and test each on the held-out rest: shares, difference "
                                   "with a 95% interval, Fisher's exact p-value, Benjamini-Hochberg q-value. Prints "
                                   "the report; --out writes it as .html, .md or .json.")
    p.add_argument("a", help="CSV (or TSV) file of the texts of group A")
    p.add_argument("b", help="CSV (or TSV) file of the texts of group B")
    _data_options(p, label=False)
    p.add_argument("--out", default=None, metavar="REPORT.html|.md|.json", help="where to write the report")
    p.add_argument("--names", nargs=2, default=None, metavar=("A", "B"),
                   help="names of the two groups in the sentences (default: the file names)")
    p.add_argument("--test-size", type=_fraction, default=0.5, metavar="F",
                   help="share of each group held out to test the hypotheses (default: 0.5)")
    p.add_argument("--max-hypotheses", type=int, default=20, metavar="N",
                   help="offline: phrase groups tested (default: 20)")
    p.add_argument("--max-texts-per-group", type=int, default=100, metavar="N",
                   help="with a chat model: held-out texts of each group it answers for (default: 100)")
    p.add_argument("--max-calls", type=int, default=None, metavar="N",
                   help="with a chat model: a hard cap on chat requests (samples shrink to fit)")
    _chat_options(p, fit=True)
    p.add_argument("--random-state", type=int, default=0, metavar="N", help="seed of the split (default: 0)")
    _quiet(p)
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("explain-model", help="explain a black-box model with a concept surrogate",
                       description="Call a saved model (a scikit-learn pipeline saved with joblib, or a model JSON) "
                                   "once on the texts of a CSV file, fit a concept model to its outputs on part of "
                                   "them and report its agreement with the black box on the rest. Load only joblib "
                                   "files you trust: loading one runs code.")
    p.add_argument("model", help="a .joblib/.pkl file whose object has predict (and predict_proba), or a model JSON")
    p.add_argument("data", help="CSV (or TSV) file with a text column (no labels needed)")
    _data_options(p, label=False)
    p.add_argument("--proba", action="store_true",
                   help="explain predict_proba's positive column (a score) instead of predict (labels)")
    p.add_argument("--max-concepts", type=int, default=10, metavar="N", help="concepts in the surrogate (default: 10)")
    p.add_argument("--test-size", type=_fraction, default=0.25, metavar="F",
                   help="share of the texts held out to measure fidelity (default: 0.25)")
    p.add_argument("--out", default=None, metavar="SURROGATE.json", help="where to write the surrogate model")
    p.add_argument("--disagreements", default=None, metavar="FILE.csv",
                   help="where to write the held-out texts on which surrogate and black box differ")
    p.add_argument("--random-state", type=int, default=0, metavar="N", help="seed (default: 0)")
    _quiet(p)
    p.set_defaults(func=cmd_explain_model)
    return parser
