"""scikit-learn's estimator contract on every estimator, with text input.

``sklearn.utils.estimator_checks.check_estimator`` generates numeric matrices; with the tags that
say "1-d texts" (``input_tags.two_d_array=False, string=True``) it runs only ``check_estimator_cloneable``
and skips the rest. So the checks that need no data run here as scikit-learn wrote them, and the
checks that need data are run in their text-input form (same name, same assertion, a small text set
instead of random numbers). Checks that cannot apply to text input, and why:

- check_fit2d_1sample, check_fit2d_1feature, check_fit2d_predict1d, check_fit1d, check_estimators_dtypes,
  check_dtype_object, check_complex_data, check_estimators_empty_data_messages (numeric-shape messages),
  check_estimators_nan_inf, check_n_features_in_after_fitting, check_fit_check_is_fitted (numeric X),
  check_sample_weight* (no sample weights), check_sparsify_coefficients, check_transformer_data_not_an_array,
  check_requires_y_none, check_positive_only_tag_during_fit, check_f_contiguous_array_estimator,
  check_dataframe_column_names_consistency, check_classifiers_one_label_sample_weights:
  they feed numeric 2-d arrays, sparse matrices or sample weights, which a text estimator refuses by
  design (tests/test_bad_input.py checks those refusals: a TypeError naming the row).
- check_n_features_in: texts have no feature count; every estimator sets ``n_features_in_ = 1``
  (one text column) so a Pipeline can read it.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (check_estimator_cloneable, check_estimator_repr,
                                            check_get_params_invariance, check_mixin_order,
                                            check_no_attributes_set_in_init, check_parameters_default_constructible,
                                            check_set_params, check_valid_tag_types)
from textsets import reviews

from nlmodels import (AugLinearClassifier, AugLinearRegressor, ConceptClassifier, ConceptRegressor,
                      ConceptTreeClassifier, QuestionEmbedder, RuleListClassifier)

CLASSIFIERS = [ConceptClassifier(max_concepts=4), RuleListClassifier(max_rules=3), ConceptTreeClassifier(max_depth=2),
               AugLinearClassifier(lexical_scales=(0,), Cs=(1.0,))]
REGRESSORS = [ConceptRegressor(max_concepts=4), AugLinearRegressor(lexical_scales=(0,), alphas=(1.0,))]
TRANSFORMERS = [QuestionEmbedder()]
ALL = CLASSIFIERS + REGRESSORS + TRANSFORMERS
ids = [type(e).__name__ for e in ALL]

NO_DATA_CHECKS = [check_estimator_cloneable, check_estimator_repr, check_no_attributes_set_in_init,
                  check_get_params_invariance, check_set_params, check_parameters_default_constructible,
                  check_mixin_order, check_valid_tag_types]


def _data(estimator):
    texts, labels = reviews(60)
    if estimator in REGRESSORS:
        return texts, np.where(labels == "pos", 3.0, 1.0) + np.linspace(0, 0.5, len(labels))
    return texts, labels


def _outputs(estimator, texts):
    if hasattr(estimator, "transform") and not hasattr(estimator, "predict"):
        return {"transform": estimator.transform(texts)}
    out = {"predict": estimator.predict(texts)}
    for method in ("predict_proba", "decision_function"):
        if hasattr(estimator, method):
            out[method] = getattr(estimator, method)(texts)
    return out


@pytest.fixture(scope="module")
def fitted():
    return {id(e): clone(e).fit(*_data(e)) for e in ALL}


@pytest.mark.parametrize("estimator", ALL, ids=ids)
@pytest.mark.parametrize("check", NO_DATA_CHECKS, ids=[c.__name__ for c in NO_DATA_CHECKS])
def test_scikit_learn_checks_that_need_no_data(estimator, check):
    check(type(estimator).__name__, clone(estimator))


@pytest.mark.parametrize("estimator", ALL, ids=ids)
def test_tags_declare_one_column_of_texts(estimator):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array


@pytest.mark.parametrize("estimator", ALL, ids=ids)
def test_check_estimators_unfitted(estimator):
    for method in ("predict", "predict_proba", "decision_function", "transform", "explain"):
        if hasattr(estimator, method):
            with pytest.raises(NotFittedError):
                getattr(clone(estimator), method)(["a text"])


@pytest.mark.parametrize("estimator", ALL, ids=ids)
def test_check_estimators_overwrite_params_and_dict_unchanged(estimator, fitted):
    model = fitted[id(estimator)]
    assert model.get_params() == clone(estimator).get_params()     # fit left the parameters as given
    texts, _ = _data(estimator)
    before = {k: v for k, v in vars(model).items() if not k.startswith("_")}
    _outputs(model, texts[:10])
    after = {k: v for k, v in vars(model).items() if not k.startswith("_")}
    assert before.keys() == after.keys()                           # predicting sets no new public state


@pytest.mark.parametrize("estimator", ALL, ids=ids)
def test_check_fit_idempotent(estimator, fitted):
    texts, y = _data(estimator)
    once = _outputs(fitted[id(estimator)], texts[:15])
    again = _outputs(clone(estimator).fit(texts, y), texts[:15])
    for method, value in once.items():
        np.testing.assert_allclose(np.asarray(again[method], float) if method != "predict" else 0,
                                   np.asarray(value, float) if method != "predict" else 0)
        if method == "predict":
            assert list(again[method]) == list(value)


@pytest.mark.parametrize("estimator", ALL, ids=ids)
def test_check_estimators_pickle(estimator, fitted):
    model = fitted[id(estimator)]
    texts, _ = _data(estimator)
    loaded = pickle.loads(pickle.dumps(model))
    for method, value in _outputs(model, texts[:10]).items():
        np.testing.assert_array_equal(_outputs(loaded, texts[:10])[method], value)


@pytest.mark.parametrize("estimator", ALL, ids=ids)
def test_check_methods_subset_and_sample_order_invariance(estimator, fitted):
    model = fitted[id(estimator)]
    texts, _ = _data(estimator)
    texts = texts[:12]
    whole = _outputs(model, texts)
    order = np.random.RandomState(0).permutation(len(texts))
    shuffled = _outputs(model, [texts[i] for i in order])
    half = _outputs(model, texts[:6])
    for method, value in whole.items():
        np.testing.assert_allclose(np.asarray(half[method]).astype(float) if method != "predict" else 0,
                                   np.asarray(value[:6]).astype(float) if method != "predict" else 0, atol=1e-9)
        if method == "predict":
            assert list(np.asarray(shuffled[method])) == list(np.asarray(value)[order])
        else:
            np.testing.assert_allclose(shuffled[method], np.asarray(value)[order], atol=1e-9)


@pytest.mark.parametrize("estimator", CLASSIFIERS, ids=[type(e).__name__ for e in CLASSIFIERS])
def test_check_classifiers_classes_and_decision_proba_consistency(estimator, fitted):
    model = fitted[id(estimator)]
    texts, y = _data(estimator)
    assert list(model.classes_) == sorted(set(y))
    proba = model.predict_proba(texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_[proba.argmax(axis=1)]) == list(model.predict(texts))
    if hasattr(model, "decision_function"):
        decision = model.decision_function(texts)
        assert decision.shape == (len(texts),)          # a decision value, not a probability
        order = np.argsort(decision)
        assert (np.diff(proba[order, 1]) >= -1e-12).all()
    integer = clone(estimator).fit(texts, (np.asarray(y) == "pos").astype(int))
    assert list(integer.classes_) == [0, 1] and set(integer.predict(texts)) <= {0, 1}


@pytest.mark.parametrize("estimator", CLASSIFIERS, ids=[type(e).__name__ for e in CLASSIFIERS])
def test_check_classifiers_regression_target(estimator):
    texts, _ = _data(estimator)
    with pytest.raises(ValueError):
        clone(estimator).fit(texts, np.linspace(0, 1, len(texts)) + 0.123)


class _NoEmbedding:
    """An embedder that fails the test if anything is embedded (the check must come first)."""

    identity = {"name": "must-not-be-used"}

    def encode(self, texts):
        raise AssertionError("a parameter error must be raised before any embedding")


def _invalid_values(estimator):
    """(parameter, an invalid value) for every declared parameter: the first candidate its
    constraint refuses."""
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    candidates = [-1, 0, "bogus", 1.5, object(), True]
    for name, constraint in type(estimator)._parameter_constraints.items():
        for value in candidates:
            try:
                validate_parameter_constraints({name: constraint}, {name: value}, caller_name="x")
            except InvalidParameterError:
                yield name, value
                break


PARAMETER_CASES = [(e, name, value) for e in ALL for name, value in _invalid_values(e)]


@pytest.mark.parametrize("estimator,name,value", PARAMETER_CASES,
                         ids=[f"{type(e).__name__}-{n}" for e, n, _ in PARAMETER_CASES])
def test_every_invalid_parameter_is_refused_by_name_before_any_work(estimator, name, value):
    model = clone(estimator).set_params(**{name: value})
    if name != "embedder":
        model.set_params(embedder=_NoEmbedding())
    texts, y = _data(estimator)
    with pytest.raises((ValueError, TypeError), match=rf"'{name}' parameter of {type(estimator).__name__}"):
        model.fit(texts, y)


def test_every_constructor_parameter_is_declared():
    for estimator in ALL:
        assert set(estimator.get_params()) == set(type(estimator)._parameter_constraints), type(estimator).__name__
