"""``estimate_cost`` for the estimators: the chat calls ``fit(X, y)`` (unfitted) or ``predict(X)``
(fitted) will make, found by a dry run of that very method in which the chat model answers from the
cache only and sends nothing. Estimators expose it as a one-line method."""

from __future__ import annotations

import copy
import hashlib

from sklearn.base import clone

from .._validation import check_texts, check_texts_labels
from ..concepts import Concept, DistillMeasurer, LLMMeasurer
from ..llm import ChatModel, CostEstimate

__all__ = ["estimate_cost"]

_MEASUREMENT_SCHEMA = "ConceptAnswers"
_PLACEHOLDER = "Does the text show the property that this placeholder question of sixty characters asks about?"


class _Unpredictable(Exception):
    """A proposal is not in the cache: what the fit asks next depends on its answer."""


class _DryRunLLM:
    """Stands in for the chat model in a dry run: every batch is planned against the cache (what
    is cached is answered from it, nothing is sent) and its cost added up; a measurement that is
    not cached gets placeholder answers so the fit goes on; a proposal that is not cached stops it."""

    def __init__(self, llm):
        self._llm = llm
        self.estimate = CostEstimate()
        self.proposals = 0
        self.last_proposal = CostEstimate()
        self.measured = False

    def __getattr__(self, name):  # model name, identity, usage ... of the real client
        return getattr(self._llm, name)

    def structured(self, prompts, schema, *, system=None, max_tokens=None, on_error="raise", desc=""):
        prompts = list(prompts)
        pending, answers = self._llm._plan(prompts, self._llm._structured_fn(schema, system, max_tokens))
        cost = self._llm._estimate(pending, len(prompts))
        self.estimate += cost
        if schema.__name__ != _MEASUREMENT_SCHEMA:
            self.proposals += 1
            self.last_proposal = cost
            if pending:
                raise _Unpredictable()
            return answers
        self.measured = True
        n = schema.model_json_schema()["properties"]["answers"]["minItems"]
        return [a if a is not None else schema(answers=_placeholder_answers(p, n)) for a, p in zip(answers, prompts)]

    def chat(self, *args, **kwargs):
        raise NotImplementedError("estimate_cost covers structured calls only")

    yes_probability = chat


def _placeholder_answers(prompt: str, n: int) -> list[str]:
    digest = hashlib.sha256(prompt.encode("utf-8", "replace")).digest()
    return ["yes" if digest[k % len(digest)] >> (k // len(digest) % 8) & 1 else "no" for k in range(n)]


def estimate_cost(model, X, y=None) -> CostEstimate:
    """The chat calls of ``model.fit(X, y)`` if ``model`` is not fitted, else of ``model.predict(X)``.

    ``calls`` and ``cached`` equal what the real run does on the same cache (each answer assumed to
    validate: one that does not costs up to ``max_repairs`` more calls). When a proposal round is
    not cached, the rounds after it and the measurement prompts depend on its answer: they are
    counted as requests (the count stays exact, assuming new questions are asked) with estimated
    tokens, and ``notes`` says so. The dry run does the fit's offline work (embedding, probes).
    """
    llm = getattr(model, "llm", None)
    if llm is None:
        return CostEstimate(notes=["no chat model (llm=None): no chat calls"])
    dry = _DryRunLLM(llm)
    if hasattr(model, "measurer_"):  # fitted: the calls of predict(X)
        texts = check_texts(X)
        twin = copy.copy(model)
        runs = {id(llm): dry}
        twin.measurer_ = _with_chat_model(model.measurer_, llm, runs)
        twin.predict(texts)
        total = CostEstimate()
        for run in runs.values():   # each chat model the measurer holds, planned against its own cache
            total += run.estimate
        return total
    texts, y = check_texts_labels(X, y, regression=getattr(model, "_regression", False))
    twin = clone(model).set_params(llm=dry)
    try:
        twin.fit(texts, y)
    except _Unpredictable:
        return _unpredictable_rest(model, texts, dry)
    except Exception:  # noqa: BLE001  (the head on placeholder answers; every chat call is counted by then)
        if not dry.measured:
            raise
    return dry.estimate


def _with_chat_model(obj, llm, runs: dict):
    """A copy of the measurer ``obj`` in which every chat model it holds is a dry run of it (``runs``,
    by the chat model's id: the model's own, or another the measurer kept after ``set_params(llm=...)``),
    nested measurers included (a distilled model's chat-model fallback for its gated questions), so the
    dry run of ``predict`` can reach no server and plans each call against the cache it would use; the
    original is untouched."""
    twin = copy.copy(obj)
    for name, value in vars(obj).items():
        if value is llm or isinstance(value, ChatModel):
            if id(value) not in runs:
                runs[id(value)] = _DryRunLLM(value)
            setattr(twin, name, runs[id(value)])
        elif type(value).__module__.startswith("nlmodels.concepts"):
            setattr(twin, name, _with_chat_model(value, llm, runs))
    return twin


def _unpredictable_rest(model, texts, dry: _DryRunLLM) -> CostEstimate:
    """Add the calls after a proposal that is not cached: the other proposal calls, then the
    measurement calls on questions not known yet (their number from the parameters)."""
    expected = model.n_rounds + (1 if getattr(model, "n_proposed_rules", 0) else 0)
    rest = max(0, expected - dry.proposals)
    last = dry.last_proposal
    dry.estimate += CostEstimate(calls=rest, prompt_tokens=rest * last.prompt_tokens,
                                 completion_tokens=rest * last.completion_tokens, tokenizer=last.tokenizer)
    k = (len(model.concepts or ()) + model.n_rounds * model.questions_per_round
         + getattr(model, "n_proposed_rules", 0))
    if model.measure == "llm":
        measured = list(texts)
    elif model.measure == "distill":
        measured = [texts[i] for i in DistillMeasurer(None, n_distill=model.n_distill,
                                                      random_state=model.random_state).sample(len(texts))]
    else:
        measured = []
    if measured:
        placeholder = LLMMeasurer(dry).fit(None, None, [Concept(f"{_PLACEHOLDER} {i}", (), "llm") for i in range(k)])
        placeholder.answer(measured)
    dry.estimate.notes.append(
        f"{rest + 1} proposal call(s) are not cached and their prompts depend on earlier answers: "
        f"the call count is exact (new questions, so no measurement is cached), the tokens are estimated "
        f"(measurement prompts with {k} questions)")
    return dry.estimate
