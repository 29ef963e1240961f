"""Fit and predict with nlmodels on a Dask cluster, through joblib.

    python examples/dask_cluster.py                         # a LocalCluster on this machine
    python examples/dask_cluster.py tcp://scheduler:8786    # an existing cluster
    python examples/dask_cluster.py --chat                  # measure="llm" with the ChatModel from
                                                            # OPENAI_BASE_URL / OPENAI_API_KEY / NLMODELS_CHAT_MODEL

What runs where (see docs/scaling.md):
- ``fit`` runs in this process; the parts of it that go through joblib (one probe per concept)
  run on the cluster inside ``joblib.parallel_config(backend="dask")``.
- ``predict`` of many texts is split into chunks with joblib's ``Parallel``; each chunk is a task on
  a worker, which receives a pickled copy of the fitted model. The API key is never in that pickle:
  workers read ``OPENAI_API_KEY`` from their own environment. Workers on other machines need
  nlmodels installed and, to share answers, ``NLMODELS_CACHE_DIR`` on a disk they can all lock
  (a local disk per node is safe; SQLite on NFS is not).
"""

import argparse
import os
import time

import joblib
import numpy as np
from dask.distributed import Client, LocalCluster
from joblib import Parallel, delayed
from sklearn.model_selection import train_test_split

from nlmodels import ChatModel, ConceptClassifier
from nlmodels.data import load_sms_spam_sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scheduler", nargs="?", help="address of a running Dask scheduler")
    parser.add_argument("--chat", action="store_true", help='measure="llm" with the ChatModel from the environment')
    parser.add_argument("--chunks", type=int, default=8, help="prediction tasks")
    args = parser.parse_args()

    cluster = None if args.scheduler else LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    client = Client(args.scheduler or cluster)
    print(f"dask: {client}")

    data = load_sms_spam_sample()
    if args.chat:  # every text costs one chat call: keep the example small
        data = data.groupby("label").sample(40, random_state=0)
    train, test = train_test_split(data, test_size=0.25, stratify=data.label, random_state=0)

    if args.chat:
        llm = ChatModel(max_concurrency=16)
        model = ConceptClassifier(llm=llm, measure="llm", max_concepts=10, on_error="missing")
    else:
        model = ConceptClassifier(max_concepts=10)

    start = time.perf_counter()
    with joblib.parallel_config(backend="dask"):
        model.fit(train.text, train.label)
        print(f"fit on {len(train)} texts in {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        chunks = np.array_split(np.arange(len(test)), args.chunks)
        parts = Parallel()(delayed(model.predict)(test.text.iloc[rows]) for rows in chunks)
    predicted = np.concatenate(parts)
    print(f"predicted {len(test)} texts in {len(chunks)} tasks on the cluster in {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {(predicted == test.label.to_numpy()).mean():.3f}")
    print(model)
    if args.chat:
        print(f"chat usage in this process: {llm.usage.as_dict()}")

    client.close()
    if cluster is not None:
        cluster.close()


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
