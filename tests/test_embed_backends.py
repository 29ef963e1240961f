"""The ONNX backend and long texts of SentenceTransformerEmbedder."""

import numpy as np
import pytest

from nlmodels import SentenceTransformerEmbedder
from nlmodels.data import load_sms_spam_sample
from nlmodels.llm import cache_key, get_cache

CATS = ("The cat sat on the warm windowsill and purred while the kitten chased a ball of wool "
        "around the sofa, and the old cat watched the birds in the garden. ")
STOCKS = ("Shares fell sharply on the stock exchange after the central bank raised interest rates, "
          "and investors sold bonds as the market slumped. ")


def test_onnx_embeddings_within_cosine_0999_of_torch(fresh_cache):
    pytest.importorskip("onnxruntime")
    texts = load_sms_spam_sample().text.tolist()[:50]
    torch_vectors = SentenceTransformerEmbedder(use_cache=False).encode(texts)
    onnx = SentenceTransformerEmbedder(backend="onnx", use_cache=False)
    onnx_vectors = onnx.encode(texts)
    assert onnx.onnx_path.exists() and onnx.onnx_path.is_relative_to(fresh_cache)   # exported offline, once
    assert onnx_vectors.shape == torch_vectors.shape and onnx_vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1, atol=1e-5)
    assert (onnx_vectors * torch_vectors).sum(axis=1).min() > 0.999


def test_backend_and_long_texts_are_part_of_the_cache_key(fresh_cache):
    default = SentenceTransformerEmbedder().identity
    onnx = SentenceTransformerEmbedder(backend="onnx").identity
    truncate = SentenceTransformerEmbedder(long_texts="truncate").identity
    assert onnx["weights_sha256"] == default["weights_sha256"]        # same weights, other vectors
    keys = {cache_key(kind="embed", embedder=i, text="x") for i in (default, onnx, truncate)}
    assert len(keys) == 3
    assert "backend" not in default and "long_texts" not in default   # short texts cached so far stay valid
    # a long text cached before chunking (truncated) is not served to the chunking default
    long_text = CATS * 12
    old_key = cache_key(kind="embed", embedder=default, text=long_text)
    get_cache().set(old_key, np.zeros(384, np.float32).tobytes())
    assert SentenceTransformerEmbedder().encode([long_text]).any()


@pytest.mark.parametrize("bad", [{"backend": "tensorrt"}, {"long_texts": "all"}])
def test_unknown_backend_or_long_text_mode_is_refused(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        SentenceTransformerEmbedder(**bad).encode(["a text"])


def test_windows_cover_the_text_at_word_boundaries_within_the_window():
    embedder = SentenceTransformerEmbedder()
    text = CATS * 12 + STOCKS * 12
    parts = embedder.windows(text)
    assert len(parts) >= 3
    room = embedder.window - 2
    tokenizer = embedder.model_.tokenizer
    for piece, n in parts:
        assert n <= room and len(tokenizer(piece, add_special_tokens=False)["input_ids"]) == n
    assert " ".join(p for p, _ in parts).split() == text.split()       # every word, in order, once
    assert embedder.windows("short text") == [("short text", room)]


def test_chunked_long_text_reads_its_end(fresh_cache):
    long_text = CATS * 12 + STOCKS * 12          # well past 256 word pieces; the end is about stocks
    truncated = SentenceTransformerEmbedder(long_texts="truncate")
    chunked = SentenceTransformerEmbedder()
    [stocks] = truncated.encode([STOCKS])
    [cut] = truncated.encode([long_text])
    [whole] = chunked.encode([long_text])
    assert whole @ cut < 0.99
    assert whole @ stocks > cut @ stocks + 0.2
    assert np.isclose(np.linalg.norm(whole), 1, atol=1e-5)
    short = ["a short text", "another one"]
    assert np.allclose(chunked.encode(short), truncated.encode(short), atol=1e-6)   # one window: same vector
