"""Embedder throughput on this machine: texts per second, cold (computed) and cached.

    python benchmarks/embed_throughput.py [--n 2000] [--data ../shared/datasets/sst2/train.csv]

Cold: an empty cache folder, the model already loaded (its one-off load time is printed apart).
Disk-cached: a new embedder object over the same folder (every vector read from SQLite).
Memory-cached: the same object again.
"""

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from nlmodels import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[1]

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=2000)
parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "sst2" / "train.csv")
args = parser.parse_args()

texts = pd.read_csv(args.data).text.tolist()[: args.n]
folder = tempfile.mkdtemp(prefix="nlmodels-throughput-")
embedder = SentenceTransformerEmbedder(cache_dir=folder, progress=False)
start = time.perf_counter()
embedder.model_  # load once
load_s = time.perf_counter() - start

rows = []
start = time.perf_counter()
embedder.encode(texts)
rows.append(("cold (computed, written to cache)", time.perf_counter() - start))
start = time.perf_counter()
SentenceTransformerEmbedder(cache_dir=folder, progress=False).encode(texts)
rows.append(("disk cache (new object)", time.perf_counter() - start))
start = time.perf_counter()
embedder.encode(texts)
rows.append(("memory (same object)", time.perf_counter() - start))

print(f"model load: {load_s:.1f} s; {len(texts)} texts from {args.data.parent.name}\n")
print("| path | seconds | texts/s |\n|---|---:|---:|")
for name, seconds in rows:
    print(f"| {name} | {seconds:.2f} | {len(texts) / seconds:,.0f} |")
