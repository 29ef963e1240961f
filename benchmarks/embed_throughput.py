"""Embedder throughput on this machine: texts per second, per backend, cold and cached.

    python benchmarks/embed_throughput.py [--n 2000] [--data ../shared/datasets/sst2/train.csv]
                                          [--backends torch,onnx] [--batch-sizes 64] [--rounds 3]

Cold: computed with no cache, the model already loaded (and the ONNX file already exported; the
one-off load/export time is printed apart). The backends and batch sizes run interleaved, round
after round, so each sees the same machine load; the table gives the median round. Then the cosine
agreement of every backend's vectors with the first backend's, and the cached paths (disk: a new
embedder object over the same folder, every vector read from SQLite; memory: the same object).

Last, the arithmetic bound: the model's own floating-point work for these texts (the matrix
products of every layer, counted from the model's config and each text's word pieces, padding
not counted), the rate each backend reached on it, and what the two cores do on one large fp32
matrix product (torch), the most this machine gives a dense model. ``--target`` texts/s needs
that many GFLOP/s.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from nlmodels import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[1]

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=2000)
parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "sst2" / "train.csv")
parser.add_argument("--backends", default="torch,onnx")
parser.add_argument("--batch-sizes", default="64")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--long-texts", default="truncate", choices=["truncate", "chunks"])
parser.add_argument("--target", type=float, default=500, help="texts/s whose arithmetic rate to print")
args = parser.parse_args()

texts = pd.read_csv(args.data).text.tolist()[: args.n]
folder = tempfile.mkdtemp(prefix="nlmodels-throughput-")
os.environ["NLMODELS_CACHE_DIR"] = folder
configs = [(b, int(s)) for b in args.backends.split(",") for s in args.batch_sizes.split(",")]
embedders = {c: SentenceTransformerEmbedder(backend=c[0], batch_size=c[1], long_texts=args.long_texts,
                                            use_cache=False, progress=False) for c in configs}
for config, embedder in embedders.items():
    start = time.perf_counter()
    embedder.encode(texts[:8])  # load (and export) once
    print(f"{config[0]} load{' + export' if config[0] == 'onnx' else ''}: {time.perf_counter() - start:.1f} s")

seconds = {c: [] for c in configs}
vectors = {}
for _ in range(args.rounds):
    for config, embedder in embedders.items():
        embedder._memo.clear()
        start = time.perf_counter()
        vectors[config] = embedder.encode(texts)
        seconds[config].append(time.perf_counter() - start)

print(f"\n{len(texts)} texts from {args.data.parent.name}, long_texts={args.long_texts}, "
      f"{args.rounds} interleaved rounds; load average {os.getloadavg()[0]:.2f} at the end\n")
first = configs[0]
print(f"| backend | batch | median s | texts/s (median) | rounds (texts/s) | cosine to {first[0]}/{first[1]}: min, mean |")
print("|---|---:|---:|---:|---|---|")
for config in configs:
    median = float(np.median(seconds[config]))
    cosine = (vectors[config] * vectors[first]).sum(axis=1)
    rounds = ", ".join(f"{len(texts) / s:.0f}" for s in seconds[config])
    print(f"| {config[0]} | {config[1]} | {median:.2f} | {len(texts) / median:,.0f} | {rounds} | "
          f"{cosine.min():.7f}, {cosine.mean():.7f} |")

cached = SentenceTransformerEmbedder(backend=first[0], cache_dir=folder, progress=False)
cached.encode(texts)
start = time.perf_counter()
SentenceTransformerEmbedder(backend=first[0], cache_dir=folder, progress=False).encode(texts)
disk = time.perf_counter() - start
start = time.perf_counter()
cached.encode(texts)
memory = time.perf_counter() - start
print(f"\ncached ({first[0]}): disk (new object) {len(texts) / disk:,.0f} texts/s, memory {len(texts) / memory:,.0f} texts/s")


# ------------------------------------------------------------------ the arithmetic bound
def model_gflop(embedder, texts) -> float:
    """GFLOP of the encoder's matrix products for these texts (each read up to the window, no
    padding): per token and layer, the Q, K, V and output projections (4 h^2 multiply-adds) and
    the feed-forward pair (2 h f); per text and layer, the attention scores and their mixing
    (2 L^2 h). Two FLOPs per multiply-add. Norms, softmax and activations are left out."""
    config = embedder.model_[0].auto_model.config
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    lengths = np.array([len(ids) for ids in embedder.model_.tokenizer(
        texts, truncation=True, max_length=embedder.window, verbose=False)["input_ids"]])
    macs = layers * ((4 * h * h + 2 * h * f) * lengths + 2 * lengths ** 2 * h).sum()
    return 2 * macs / 1e9


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Sustained GFLOP/s of one large fp32 matrix product on this machine (torch, its threads)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9



work = model_gflop(cached, texts)
peak = matmul_gflops()
print(f"\narithmetic: {work:,.0f} GFLOP for these {len(texts)} texts ({work / len(texts) * 1e3:.0f} MFLOP each); "
      f"{args.target:,.0f} texts/s needs {work / len(texts) * args.target:,.0f} GFLOP/s; one 2048 x 2048 fp32 "
      f"matrix product runs at {peak:,.0f} GFLOP/s here (torch, {torch.get_num_threads()} threads)")
for config in configs:
    rate = len(texts) / float(np.median(seconds[config]))
    print(f"  {config[0]}/{config[1]}: {work / len(texts) * rate:,.0f} GFLOP/s reached "
          f"({work / len(texts) * rate / peak:.0%} of that product)")
