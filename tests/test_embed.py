"""Embedders: the bundled MiniLM offline, the OpenAI endpoint, both through the cache."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from nlmodels import OpenAIEmbedder, SentenceTransformerEmbedder
from nlmodels.llm import get_cache


def test_bundled_minilm_offline_gives_normalised_vectors(fresh_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = SentenceTransformerEmbedder()
    vectors = embedder.encode(["a great film", "a wonderful movie", "the stock fell 5%"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.identity["name"] == "all-MiniLM-L6-v2" and len(embedder.identity["weights_sha256"]) == 64


def test_embeddings_come_from_cache_in_a_new_process(fresh_cache):
    texts = ["one text", "another text"]
    first = SentenceTransformerEmbedder().encode(texts)
    script = (
        "import sys, numpy as np, nlmodels.embed.sentence_transformer as st\n"
        "st._load = None  # loading the model would fail: every vector must come from the cache\n"
        "v = st.SentenceTransformerEmbedder().encode(['one text', 'another text'])\n"
        "np.save(sys.argv[1], v)\n"
    )
    out = fresh_cache.parent / "v.npy"
    subprocess.run([sys.executable, "-c", script, str(out)], check=True)
    assert np.array_equal(np.load(out), first)


def test_duplicates_are_embedded_once(fresh_cache):
    embedder = SentenceTransformerEmbedder()
    calls = []
    original = embedder._encode_batch
    embedder._encode_batch = lambda texts: calls.append(list(texts)) or original(texts)
    vectors = embedder.encode(["x", "y", "x", "x"])
    assert sorted(calls[0]) == ["x", "y"]
    assert np.array_equal(vectors[0], vectors[2])
    embedder.encode(["y", "x"])
    assert len(calls) == 1


def test_encode_rejects_non_strings():
    with pytest.raises(TypeError, match="row 1"):
        SentenceTransformerEmbedder().encode(["fine", 3])
    with pytest.raises(TypeError, match="single string"):
        SentenceTransformerEmbedder().encode("one string")


def test_openai_embedder_batches_and_caches(fresh_cache, fake_llm):
    server = fake_llm(lambda m, b: "", embed_dim=16)
    embedder = OpenAIEmbedder("emb", base_url=server.base_url, batch_size=4, api_key="sk-secret-embed")
    texts = [f"text {i}" for i in range(10)]
    vectors = embedder.encode(texts)
    assert vectors.shape == (10, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert server.count("/embeddings") == 3  # 4 + 4 + 2
    fresh = OpenAIEmbedder("emb", base_url=server.base_url, batch_size=4)
    assert np.array_equal(fresh.encode(texts[::-1]), vectors[::-1])
    assert server.count("/embeddings") == 3
    assert b"sk-secret-embed" not in pickle.dumps(embedder)
    assert len(get_cache()) == 10


def test_openai_embedder_errors_carry_no_key(fresh_cache, fake_llm):
    from nlmodels import LLMError

    server = fake_llm(lambda m, b: "")
    server.respond = lambda path, body: (401, {"error": {"message": "bad key sk-embed-sentinel-4242"}}, {})
    embedder = OpenAIEmbedder("emb", base_url=server.base_url, api_key="sk-embed-sentinel-4242", max_retries=0)
    with pytest.raises(LLMError, match="embedding request failed") as info:
        embedder.encode(["a text"])
    assert "sentinel" not in str(info.value) and "[api key]" in str(info.value)



def _batch_dependent_embedder_class(barrier):
    """An embedder class whose vectors change in the last bits with the batch a text is computed
    in (as padding does for a transformer), and whose first two batches wait for each other, so
    two threads compute the same text at the same time."""
    import threading

    from nlmodels.embed import Embedder

    class BatchDependent(Embedder):
        calls = 0
        lock = threading.Lock()

        @property
        def identity(self):
            return {"type": "batch-dependent-test"}

        def _encode_batch(self, texts):
            with self.lock:
                type(self).calls += 1
                first_two = type(self).calls <= 2
            if first_two:
                barrier.wait(timeout=10)
            out = np.ones((len(texts), 4), dtype=np.float32)
            out[:, 0] += np.float32(1e-6) * len(texts)     # depends on the batch, not the text
            return out

    return BatchDependent


@pytest.mark.parametrize("shared", ["one object, no disk cache", "two objects, one cache folder"])
def test_a_text_computed_by_two_threads_at_once_gets_one_vector(fresh_cache, shared):
    """The vector every caller gets is the first one stored, and the one a later run reads back:
    otherwise a cold fit (threaded folds embedding the same phrase in different batches) and a
    warm refit of the same data see different numbers and may choose a different model."""
    import threading

    cls = _batch_dependent_embedder_class(threading.Barrier(2))
    if shared == "one object, no disk cache":
        first = second = cls(progress=False, use_cache=False)
    else:
        first, second = cls(progress=False), cls(progress=False)
    out = {}
    jobs = [threading.Thread(target=lambda: out.__setitem__(1, first.encode(["shared", "x"])[0])),
            threading.Thread(target=lambda: out.__setitem__(2, second.encode(["shared", "y", "z"])[0]))]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert cls.calls == 2                                # both computed it: the race happened
    assert np.array_equal(out[1], out[2])
    if shared != "one object, no disk cache":
        later = cls(progress=False).encode(["shared"])[0]     # a warm run reads it back
        assert cls.calls == 2 and np.array_equal(later, out[1])
