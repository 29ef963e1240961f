"""Does choosing the prototype probes' C help the whole model? A development protocol on train.csv only.

    python benchmarks/prototype_c_full.py SEEDS DATASET[@200] ...
    python benchmarks/prototype_c_full.py 1,2,3 sst2@200 financial_phrasebank@200 emotion@200 ag_news@200
    python benchmarks/prototype_c_full.py 1 financial_phrasebank sms_spam sst2 rotten_tomatoes emotion ag_news bbc_news

Per dataset and seed (``name@200``: 200 train texts, scored on up to 1,500 others; ``name``: 75% / 25%
of train): ``ConceptClassifier()`` with the prototype C chosen (this commit's default), the same with
C=1 (only where the choice was not 1), and with 0.25 left out of the grid (only where 0.25 was chosen).
"""
import sys, time, pandas as pd, numpy as np
from sklearn.model_selection import train_test_split
from nlmodels import ConceptClassifier
from nlmodels.models import _pipeline
from nlmodels.concepts.measurers import embedding
orig = _pipeline.ConceptPipeline._prototype_C
def run(fit, scored, mode):
    if mode == "one":
        _pipeline.ConceptPipeline._prototype_C = lambda self, bins: 1.0
    else:
        _pipeline.ConceptPipeline._prototype_C = orig
    embedding.PROTOTYPE_C_GRID = (1.0, 4.0, 16.0, 64.0) if mode == "noquarter" else (0.25, 1.0, 4.0, 16.0, 64.0)
    m = ConceptClassifier().fit(fit.text.tolist(), fit.label.to_numpy())
    return np.mean(m.predict(scored.text.tolist()) == scored.label.to_numpy()), m.measurer_.prototype_C_
for spec in sys.argv[2:]:
    name, _, n = spec.partition("@")
    tr = pd.read_csv(f"/work/shared/datasets/{name}/train.csv")
    for seed in map(int, sys.argv[1].split(",")):
        if n:
            fit, scored = train_test_split(tr, train_size=int(n), stratify=tr.label, random_state=seed); scored = scored.iloc[:1500]
        else:
            fit, scored = train_test_split(tr, test_size=0.25, stratify=tr.label, random_state=seed)
        a_auto, C = run(fit, scored, "auto")
        a_one, _ = run(fit, scored, "one") if C != 1.0 else (a_auto, 1.0)
        a_nq, C_nq = run(fit, scored, "noquarter") if C == 0.25 else (a_auto, C)
        print(f"{spec} seed {seed} auto {a_auto:.4f} (C={C:g}) C=1 {a_one:.4f} no0.25 {a_nq:.4f} (C={C_nq:g})", flush=True)
