"""Embedder throughput on this machine: texts per second, per backend, cold and cached.

    python benchmarks/embed_throughput.py [--n 2000] [--data ../shared/datasets/sst2/train.csv]
                                          [--backends torch,onnx] [--batch-sizes 64] [--rounds 3]

Cold: computed with no cache, the model already loaded (and the ONNX file already exported; the
one-off load/export time is printed apart). The backends and batch sizes run interleaved, round
after round, so each sees the same machine load; the table gives the median round. Then the cosine
agreement of every backend's vectors with the first backend's, and the cached paths (disk: a new
embedder object over the same folder, every vector read from SQLite; memory: the same object).
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nlmodels import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[1]

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=2000)
parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "sst2" / "train.csv")
parser.add_argument("--backends", default="torch,onnx")
parser.add_argument("--batch-sizes", default="64")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--long-texts", default="truncate", choices=["truncate", "chunks"])
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
