"""The sign-bounded L1 path with strong-rule screening solves the same problem as without it."""

import numpy as np
import pytest

from nlmodels.models._head import (_kind, _path, _select_along_path, standardise, _targets, association_signs,
                                   fit_sparse_classifier)


def problem(n_classes, n_concepts=24, n=200, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.randint(n_classes, size=n)
    F = rng.rand(n, 2 * n_concepts)
    for k in range(0, n_concepts, 2):             # half the concepts carry the class, in both signals
        F[:, 2 * k] += 0.8 * (y == k % n_classes)
        F[:, 2 * k + 1] = (F[:, 2 * k] > 0.9).astype(float)
    groups = np.repeat(np.arange(n_concepts), 2)
    return F, y, groups


@pytest.mark.parametrize("n_classes", [2, 5])
def test_screened_path_matches_the_full_path(n_classes):
    F, y, groups = problem(n_classes)
    Z = standardise(F)[0]
    T = _targets(y)
    signs = association_signs(F, y, groups)
    signs[:, 6:10] = 0                                     # gated columns stay at 0 either way
    kind = _kind(T, False)
    full = list(_path(Z, T, signs, kind, 10, screen=False))
    screened = list(_path(Z, T, signs, kind, 10, screen=True))
    assert len(full) == len(screened) == 10
    for a, b in zip(full, screened):
        # the same problem, solved to L-BFGS-B's tolerance either way (it stops on a relative change
        # of the objective, so weak-penalty steps agree to about 1e-3)
        assert np.abs(a - b).max() < 1e-2 * max(1.0, np.abs(a).max())
        assert ((np.abs(a) > 1e-3) <= (np.abs(b) > 0)).all() and ((np.abs(b) > 1e-3) <= (np.abs(a) > 0)).all()
        assert (b[signs == 0] == 0).all() and (np.sign(b) * signs >= 0).all()
    for budget in (3, 8, 15):
        assert (_select_along_path(iter(full), groups, budget) == _select_along_path(iter(screened), groups, budget)).all()


def test_head_keeps_its_budget_signs_and_gate_with_many_classes():
    F, y, groups = problem(8, n_concepts=30, n=300)
    allowed = np.ones(F.shape[1], bool)
    allowed[:10] = False
    coef, intercept, used = fit_sparse_classifier(F, y, groups, 10, allowed=allowed)
    signs = association_signs(F, y, groups)
    assert len(np.unique(groups[used])) <= 10 and not used[:10].any()
    assert (coef[:, ~used] == 0).all() and (np.sign(coef) * signs >= 0).all()
    assert np.mean((F @ coef.T + intercept).argmax(axis=1) == y) > 0.5


@pytest.mark.parametrize("l1,l2", [(0.01, 0.0), (0.0, 0.1)])
def test_the_free_weights_solver_solves_the_same_problem(l1, l2):
    from nlmodels.models._head import _bounded_fit

    F, y, groups = problem(6)
    Z, T = standardise(F)[0], _targets(y)
    signs = association_signs(F, y, groups)
    signs[np.random.RandomState(1).rand(*signs.shape) < 0.7] = 0      # most weights bounded to 0
    dense = _bounded_fit(Z, T, signs, l1, l2, "softmax", free_only=False)
    free = _bounded_fit(Z, T, signs, l1, l2, "softmax", free_only=True)
    np.testing.assert_allclose(free[0], dense[0], atol=1e-3)
    np.testing.assert_allclose(free[1], dense[1], atol=1e-3)
    assert (free[0][signs == 0] == 0).all() and (np.sign(free[0]) * signs >= 0).all()
    assert free[2].shape == dense[2].shape       # warm starts pass between the two


def test_with_many_classes_a_class_named_concept_weighs_toward_its_own_class_only():
    from nlmodels.models._head import own_class_rows

    n_classes = 20
    F, y, groups = problem(n_classes, n_concepts=40, n=600)
    classes = np.unique(y)
    targets = [classes[k % n_classes] if k < 30 else None for k in range(40)]   # the last 10 name no class
    signs = own_class_rows(association_signs(F, y, groups), targets, classes, groups)
    coef, _, used = fit_sparse_classifier(F, y, groups, 40, signs=signs)
    for k, target in enumerate(targets):
        columns = groups == k
        if target is not None:
            others = np.arange(n_classes) != list(classes).index(target)
            assert (coef[others][:, columns] == 0).all()
    assert used.any() and (np.sign(coef) * signs >= 0).all()


def test_penalties_tied_on_accuracy_are_told_apart_by_log_loss_even_through_float_sums():
    from nlmodels.models._head import _best_penalty

    a = sum(np.array([16, 18, 19, 15, 18]) / 20)   # 86 of 100 right, summed per fold: 4.3
    b = sum(np.array([15, 18, 19, 15, 19]) / 20)   # 86 of 100 too: 4.300000000000001
    assert a != b   # the sums differ by rounding alone; an exact comparison missed the tie
    assert _best_penalty([a, b, 4.0], [9.0, 3.0, 1.0]) == 1   # the tied one with the lower log-loss
    assert _best_penalty([4.0, 4.0], [2.0, 2.0]) == 0          # still tied: the first, the strongest penalty
    assert _best_penalty([4.1, 4.0], [9.0, 1.0]) == 0          # log-loss never overrides a better accuracy
