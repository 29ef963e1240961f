"""The OpenAI Batch API for large chat batches: one JSONL file of requests, uploaded and run by the
provider (OpenAI, Azure OpenAI) or by ``vllm run-batch``, answers read back into the cache.

A submitted batch is recorded on disk (its id, input file id, the SHA-256 of the input file and the
requests it holds) before polling starts, so a process killed while waiting and started again polls
the same batch: nothing is uploaded or submitted twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

__all__ = ["read_output", "run_batch", "write_requests"]

ENDPOINT = "/v1/chat/completions"
_DONE = ("completed", "failed", "expired", "cancelled")


def write_requests(requests: dict[str, dict]) -> bytes:
    """JSONL lines ``{"custom_id", "method", "url", "body"}``; the custom_id is the cache key."""
    lines = [json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": body},
                        ensure_ascii=False, separators=(",", ":")) for key, body in requests.items()]
    return ("\n".join(lines) + "\n").encode("utf-8")


def read_output(text: str, on_answer: Callable[[str, dict], None], failed: dict[str, str]) -> int:
    """Read output (or error) lines: each answered line goes to ``on_answer(custom_id, completion
    body)`` as it is read; lines that carry an error go to ``failed``. Returns the answers read."""
    n = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = record["custom_id"]
        except (ValueError, KeyError, TypeError):
            continue  # not a line of a batch output
        response = record.get("response") or {}
        status = response.get("status_code")
        if record.get("error") or status != 200:
            error = record.get("error") or (response.get("body") or {}).get("error") or {}
            message = error.get("message") if isinstance(error, dict) else str(error)
            failed[key] = f"batch line failed (HTTP {status}): {message or 'no answer'}"
            continue
        try:
            on_answer(key, response["body"])
            n += 1
        except Exception as error:  # noqa: BLE001  (a line that is not a chat completion)
            failed[key] = f"batch line is not a chat completion ({type(error).__name__})"
    return n


def _state_path(folder: Path, digest: str) -> Path:
    return folder / f"batch-{digest[:32]}.json"


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)


def _find_state(folder: Path, keys: set[str], server: dict) -> tuple[Path, dict] | None:
    """A batch submitted before (by this or a killed process) that holds all these requests."""
    for path in sorted(folder.glob("batch-*.json")):
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not state.get("finished") and state.get("server") == server and keys <= set(state.get("ids", ())):
            return path, state
    return None


def _uploaded(client, filename: str) -> str | None:
    """The id of a batch input file uploaded under this name (by a process killed before it could
    write the id down), if the server lists one."""
    try:
        for f in client.files.list(purpose="batch"):
            if getattr(f, "filename", None) == filename:
                return f.id
    except Exception:  # noqa: BLE001  (a server that cannot list files: upload)
        return None
    return None


def _submitted(client, file_id: str) -> str | None:
    """The id of a live batch already made from this input file, if the first page of batches has one."""
    try:
        for b in client.batches.list(limit=100).data:
            if getattr(b, "input_file_id", None) == file_id and b.status not in ("failed", "expired", "cancelled"):
                return b.id
    except Exception:  # noqa: BLE001
        return None
    return None


def run_batch(client, requests: dict[str, dict], *, folder: Path, server: dict,
              on_answer: Callable[[str, dict], None], poll_interval: float = 30.0, progress: bool = True,
              desc: str = "batch", redact: Callable[[str], str] = str) -> dict[str, str]:
    """Run ``requests`` ({cache key: request body}) as one batch; return {key: why} for the lines
    that got no answer. Raises :class:`~nlmodels.LLMError` when the batch itself fails or expires
    (after reading the lines it finished)."""
    from .errors import LLMError

    folder.mkdir(parents=True, exist_ok=True)
    found = _find_state(folder, set(requests), server)
    if found is None:
        data = write_requests(requests)
        digest = hashlib.sha256(data).hexdigest()
        path = _state_path(folder, digest)
        state = {"input_sha256": digest, "server": server, "ids": list(requests), "created": time.time(),
                 "filename": f"nlmodels-{digest[:16]}.jsonl"}
        _save(path, state)  # before the upload: a restart looks for this upload before making another
    else:
        path, state = found
        data = None
    if not state.get("input_file_id"):
        state["input_file_id"] = (found and _uploaded(client, state["filename"])) or client.files.create(
            file=(state["filename"], data if data is not None else write_requests(
                {key: requests[key] for key in state["ids"] if key in requests})), purpose="batch").id
        _save(path, state)
    if not state.get("batch_id"):
        state["batch_id"] = (found and _submitted(client, state["input_file_id"])) or client.batches.create(
            input_file_id=state["input_file_id"], endpoint=ENDPOINT, completion_window="24h").id
        _save(path, state)  # before polling: a restart polls this batch

    total = len(state["ids"])
    with tqdm(total=total, desc=f"{desc} (batch {state['batch_id']})", disable=not progress, leave=False) as bar:
        while True:
            batch = client.batches.retrieve(state["batch_id"])
            counts = getattr(batch, "request_counts", None)
            if counts is not None:
                bar.n = min(total, (counts.completed or 0) + (counts.failed or 0))
                bar.refresh()
            if batch.status in _DONE:
                break
            time.sleep(poll_interval)

    failed: dict[str, str] = {}
    answered: set[str] = set()

    def take(key: str, body: dict) -> None:
        on_answer(key, body)
        answered.add(key)

    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            read_output(client.files.content(file_id).text, take, failed)
    state.update(finished=True, status=batch.status)
    _save(path, state)
    if batch.status != "completed":
        errors = getattr(getattr(batch, "errors", None), "data", None) or []
        detail = "; ".join(redact(str(getattr(e, "message", e))) for e in errors[:3])
        raise LLMError(
            f"batch {state['batch_id']} ended '{batch.status}'{': ' + detail if detail else ''}; "
            f"{len(answered)} of {total} answers read into the cache. Calling again asks only for the rest.")
    for key in requests:
        if key not in answered:
            failed.setdefault(key, "no line for this request in the batch output")
    return failed
