"""Concept scores as features for any scikit-learn model, on the bundled SMS sample (offline).

    python examples/transformer_pipeline.py

``ConceptTransformer`` proposes and measures concepts as ``ConceptClassifier`` does, without a head,
so any scikit-learn model can follow it in a Pipeline. No head chooses among the columns here, so the
transformer applies the fidelity gate itself: with ``gated="drop"`` (the default) a column whose
measurement failed its held-out check is not output at all; ``gated="keep"`` outputs it under a name
that ends "(not faithful)", so whatever reads the next model's importances sees which columns do not
measure what their sentence says.
"""

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from nlmodels import ConceptTransformer
from nlmodels.data import load_sms_spam_sample

data = load_sms_spam_sample()
train, test = train_test_split(data, test_size=0.25, stratify=data.label, random_state=0)

pipe = make_pipeline(ConceptTransformer(), HistGradientBoostingClassifier(random_state=0))
pipe.fit(train.text, train.label)
concepts = pipe[0]
print(f"test accuracy {pipe.score(test.text, test.label):.3f} on {len(test)} messages")
print(f"{len(concepts.output_columns_)} of {len(concepts.fidelity_)} measured columns passed their gate "
      "and are output (gated='drop'):")
for name in concepts.get_feature_names_out()[:6]:
    print("  ", name)
print("the first columns' checks on held-out texts:")
print(concepts.fidelity_.loc[concepts.output_columns_[:4], ["concept", "signal", "metric", "fidelity", "passed"]]
      .to_string())

# The same transformer, keeping every column: a failed one is named so, and the next model may use it.
keep = ConceptTransformer(gated="keep").fit(train.text, train.label)
failed = [name for name in keep.get_feature_names_out() if name.endswith("(not faithful)")]
print(f"\ngated='keep' outputs all {len(keep.get_feature_names_out())} columns; {len(failed)} named as failed, "
      "such as:")
for name in failed[:3]:
    print("  ", name)
