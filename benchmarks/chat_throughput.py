"""Chat-call throughput of one ChatModel against a server that answers after a fixed latency.

    python benchmarks/chat_throughput.py [--latency 0.2] [--concurrency 32] [--calls 320] [--runs 3]

The server is tests/faults.py in a process of its own (as a real server is: the client's throughput is
measured, not the fake server's share of this process's GIL). The client warms its connections first,
as a long-lived one has; then each run sends ``--calls`` distinct prompts. Prints one table row per run
and the best, as a share of the ideal ``concurrency / latency``. Target (docs/scaling.md): >= 80% of the
ideal at 200 ms and 32 in flight on the 2-core machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
parser = argparse.ArgumentParser()
parser.add_argument("--latency", type=float, default=0.2)
parser.add_argument("--concurrency", type=int, default=32)
parser.add_argument("--calls", type=int, default=320)
parser.add_argument("--runs", type=int, default=3)
args = parser.parse_args()
os.environ["NLMODELS_CACHE_DIR"] = tempfile.mkdtemp(prefix="nlmodels-chat-throughput-")

from nlmodels import ChatModel  # noqa: E402  (after the cache folder is set)

ideal = args.concurrency / args.latency
server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "faults.py"), "--latency", str(args.latency)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "tests")})
try:
    llm = ChatModel("fake", base_url=server.stdout.readline().strip(), max_concurrency=args.concurrency,
                    progress=False)
    llm.chat([f"warm-up {i}" for i in range(args.concurrency)])
    rates = []
    for run in range(args.runs):
        start = time.perf_counter()
        llm.chat([f"run {run} prompt {i}" for i in range(args.calls)])
        rates.append(args.calls / (time.perf_counter() - start))
    server.stdin.close()
    stats = json.loads(server.stdout.readline())
finally:
    server.kill()
    server.wait()

print(f"{args.calls} calls a run, {args.latency * 1000:.0f} ms latency, max_concurrency={args.concurrency}, "
      f"ideal {ideal:.0f} requests/s; server saw {stats['max_in_flight']} in flight at most; "
      f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
print("| run | requests/s | share of ideal |")
print("|---|---:|---:|")
for run, rate in enumerate(rates, 1):
    print(f"| {run} | {rate:.1f} | {rate / ideal:.0%} |")
print(f"| best | {max(rates):.1f} | {max(rates) / ideal:.0%} |")
