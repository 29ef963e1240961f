"""A scripted OpenAI-compatible server over a capable model's recorded answers (``shared/llm_answers``).

No capable chat model runs on these machines. ``shared/llm_answers/<dataset>/`` holds a capable
model's yes/no answers to 20 questions for 200 train and 200 test texts. This server replays them,
so the real ``ChatModel`` path (the ``openai`` client, prompts, cache, measurers, heads) runs on
answers of the quality a user's model gives:

- a measurement prompt (a text between ``<text>`` tags and numbered questions) gets the recorded
  answers of that text to those questions, as ``{"answers": ["yes", "no", ...]}``;
- a proposal prompt ("Write N short, concrete yes/no questions ...") gets the recorded questions
  1-10 when it lists none as already used, 11-20 when it lists some;
- anything the table does not hold (an unknown text or question, another kind of prompt) is an
  HTTP 404 naming what was missing: never an invented answer.

Used by the tests and by ``benchmarks/faithfulness.py``; results that rest on it say so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from servers import RecordingServer, completion

ANSWERS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "llm_answers"
DATASETS = ("sst2", "financial_phrasebank")

_TEXT = re.compile(r"<text>(.*?)</text>", re.S)
_QUESTION = re.compile(r"^\d+\. (.*)$", re.M)
_UNQUOTE = re.compile(r"\[(/?)text\]")


def answers_available(dataset: str = "sst2") -> bool:
    return (ANSWERS_DIR / dataset / "answers.csv").exists()


def load_answers(dataset: str) -> tuple[pd.DataFrame, list[str]]:
    """The answer table (split, text, label, q01..q20) and the 20 questions, in proposal order."""
    folder = ANSWERS_DIR / dataset
    table = pd.read_csv(folder / "answers.csv")
    questions = [q.strip() for q in (folder / "questions.txt").read_text().splitlines() if q.strip()]
    return table, questions


def split(dataset: str, part: str) -> tuple[list[str], list]:
    """Texts and labels of the answered ``train`` or ``test`` texts."""
    table, _ = load_answers(dataset)
    rows = table[table["split"] == part]
    return rows["text"].tolist(), rows["label"].tolist()


class AnswerServer(RecordingServer):
    """Replays the recorded answers of one or more datasets (see the module docstring).

    ``missing`` records every (text, question) or prompt the table could not answer.
    """

    def __init__(self, datasets=DATASETS):
        self.answers: dict[str, dict[str, int]] = {}   # text -> {question: 0/1}
        self.questions: list[list[str]] = []           # per dataset, in proposal order
        for name in datasets:
            table, questions = load_answers(name)
            self.questions.append(questions)
            columns = [f"q{i + 1:02d}" for i in range(len(questions))]
            for record in table.to_dict("records"):
                known = self.answers.setdefault(record["text"], {})
                known.update({q: int(record[c]) for q, c in zip(questions, columns)})
        self.missing: list[str] = []
        super().__init__(self._respond)

    def _not_found(self, what: str):
        self.missing.append(what)
        return 404, {"error": {"message": f"not in the recorded answers: {what}", "type": "not_found"}}, {}

    def _respond(self, path, body):
        if not path.endswith("/chat/completions"):
            return self._not_found(f"endpoint {path}")
        prompt = body["messages"][-1]["content"]
        if "yes/no questions" in prompt and "Write " in prompt:
            return self._propose(prompt)
        found = _TEXT.findall(prompt)
        if len(found) != 1:
            return self._not_found("a prompt that is neither one measurement nor a proposal")
        text = _UNQUOTE.sub(lambda m: f"<{m.group(1)}text>", found[0])
        known = self.answers.get(text)
        if known is None:
            return self._not_found(f"text {text[:60]!r}")
        answers = []
        for question in _QUESTION.findall(prompt.split("</text>", 1)[1]):
            if question.strip() not in known:
                return self._not_found(f"question {question[:60]!r}")
            answers.append("yes" if known[question.strip()] else "no")
        if not answers:
            return self._not_found("a measurement prompt without questions")
        return 200, completion(json.dumps({"answers": answers})), {}

    def _propose(self, prompt):
        for questions in self.questions:
            if any(q in prompt for q in questions):  # a later round lists these as already used
                if all(q in prompt for q in questions[:10]) and not any(q in prompt for q in questions[10:]):
                    return 200, completion(json.dumps({"questions": questions[10:20]})), {}
                return self._not_found("a third proposal round (the table holds two)")
        if len(self.questions) != 1:
            return self._not_found("a first proposal with several datasets loaded (which one?)")
        return 200, completion(json.dumps({"questions": self.questions[0][:10]})), {}
