"""The chat model's record in a model file: model name, server and the settings that change answers;
never a key."""

from __future__ import annotations

import warnings

from .._codec import plain
from .chat import ChatModel

__all__ = ["chat_model_record", "rebuild_chat_model"]


def chat_model_record(llm) -> dict | None:
    """Model name and server (``ChatModel.identity``) and the settings that change answers; never a key."""
    if llm is None:
        return None
    record = dict(llm.identity)
    for name in ("temperature", "seed", "max_tokens"):
        if hasattr(llm, name):
            record[name] = plain(getattr(llm, name))
    return record


def rebuild_chat_model(record: dict | None, given=None):
    """``given`` wins (e.g. a client with its own key or an Azure client); otherwise a ChatModel
    for the recorded model and server, whose key comes from ``OPENAI_API_KEY`` when it is used."""
    if record is None:
        return given
    if given is not None:
        if dict(given.identity) != {"model": record["model"], "server": record["server"]}:
            warnings.warn(f"the chat model differs from the recorded one ({record['model']} at "
                          f"{record['server']}): answers, and so predictions, may differ", stacklevel=3)
        return given
    options = {k: record[k] for k in ("temperature", "seed", "max_tokens") if k in record}
    return ChatModel(record["model"], base_url=record["server"], **options)
