"""The embedder's record in a model file: its identity (name, weights hash; never a key) and the
settings that rebuild it."""

from __future__ import annotations

import warnings

from .._codec import plain
from .openai import OpenAIEmbedder
from .sentence_transformer import SentenceTransformerEmbedder

__all__ = ["embedder_record", "rebuild_embedder"]


def embedder_record(embedder) -> dict:
    """What identifies the embedder (``identity``: name, weights hash ...) and the settings that
    rebuild it. Never a key: OpenAI-compatible embedders give only model name and server."""
    record = {"class": type(embedder).__name__, "identity": plain(embedder.identity)}
    if isinstance(embedder, SentenceTransformerEmbedder):
        record["settings"] = plain(embedder.settings)  # backend and long-text mode included
    elif isinstance(embedder, OpenAIEmbedder):
        record["settings"] = {"model": embedder.model, "base_url": embedder.identity["server"],
                              "dimensions": embedder.dimensions, "batch_size": embedder.batch_size,
                              "normalize": embedder.normalize}
    else:
        record["settings"] = None  # load(..., embedder=...) must supply it
    return record


def rebuild_embedder(record: dict, given=None):
    if given is not None:
        embedder = given
    elif record["class"] == "SentenceTransformerEmbedder" and record.get("settings"):
        embedder = SentenceTransformerEmbedder(**record["settings"])
    elif record["class"] == "OpenAIEmbedder" and record.get("settings"):
        embedder = OpenAIEmbedder(**record["settings"])
    else:
        raise ValueError(
            f"the model was fitted with a {record['class']} ({record['identity']}), which cannot be rebuilt "
            "from the file: pass it as load(path, embedder=...)"
        )
    identity = plain(embedder.identity)
    if identity != record["identity"]:
        warnings.warn(
            f"the embedder differs from the one the model was fitted with: fitted with {record['identity']}, "
            f"now {identity}; predictions may differ", stacklevel=3,
        )
    return embedder
