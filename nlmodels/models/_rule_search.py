"""The rule-list search: greedy growth of an if-then-else list over binarised concept scores,
its list length and penalty chosen by repeated stratified cross-validation, then refined and pruned.

``B`` is the (texts x conditions) 0/1 matrix of every concept score cut at every candidate
threshold (above and below); a rule is one or two of its columns; ``yi`` are class indices.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

__all__ = ["learn_rule_list"]


class _RuleSearch:
    """Ordered rules over the binary matrix ``B`` (texts x M cuts), labels ``yi`` in 0..K-1."""

    def __init__(self, B, yi, K, *, min_support, n_seeds=20):
        self.B, self.yi, self.K = B, yi, K
        self.Y = np.eye(K, dtype=np.float32)[yi]
        self.M = B.shape[1]
        self.min_support = min_support
        self.n_seeds = n_seeds

    def mask(self, m: int) -> np.ndarray:
        column = self.B[:, m % self.M] > 0
        return column if m < self.M else ~column

    def fires(self, conds) -> np.ndarray:
        out = np.ones(len(self.yi), bool)
        for m in conds:
            out &= self.mask(m)
        return out

    def _best(self, G, reach):
        """The rule (conditions, class) with the largest sum of ``G[i, k]`` over the texts of
        ``reach`` it covers; one condition, or two (the best single ones as seeds)."""
        weights = reach[:, None].astype(np.float32)
        covered = lambda W: self.B.T @ W  # noqa: E731
        total, n = G.sum(0), weights.sum()
        P, c = covered(G), covered(weights)
        S1 = np.where(np.vstack([c, n - c]) >= self.min_support, np.vstack([P, total - P]), -np.inf)
        m, k = np.unravel_index(np.argmax(S1), S1.shape)
        best, score = ((int(m),), int(k)), S1[m, k]
        seeds = np.argsort(-S1.max(1))[: self.n_seeds]
        seeds = seeds[np.isfinite(S1[seeds].max(1))]
        if len(seeds):
            masks = np.stack([self.mask(s) for s in seeds], 1).astype(np.float32)
            P2 = covered((G[:, None, :] * masks[:, :, None]).reshape(len(G), -1)).reshape(self.M, len(seeds), -1)
            c2 = covered(weights * masks)
            for i, s in enumerate(seeds):
                Gs, ns = (G * masks[:, i:i + 1]).sum(0), (weights[:, 0] * masks[:, i]).sum()
                S2 = np.where(np.vstack([c2[:, i:i + 1], ns - c2[:, i:i + 1]]) >= self.min_support,
                              np.vstack([P2[:, i], Gs - P2[:, i]]), -np.inf)
                m, k = np.unravel_index(np.argmax(S2), S2.shape)
                if S2[m, k] > score + 1e-9:
                    best, score = (tuple(sorted({int(s), int(m)})), int(k)), S2[m, k]
        return best, score

    def grow(self, max_rules: int, alpha: float):
        """Sequential covering: each rule maximises correct - alpha * wrong among the texts that
        no earlier rule covers."""
        reach = np.ones(len(self.yi), bool)
        rules = []
        for _ in range(max_rules):
            counts = np.bincount(self.yi[reach], minlength=self.K)
            if reach.sum() < self.min_support or counts.max() == counts.sum():
                break
            G = ((1 + alpha) * self.Y - alpha) * reach[:, None]
            (conds, k), score = self._best(G, reach)
            if not np.isfinite(score):
                break
            rules.append((conds, k))
            reach &= ~self.fires(conds)
        return rules

    def outcome(self, rules, default=None) -> np.ndarray:
        """Index of the class each text gets (``default`` where no rule fires; -1 if None)."""
        out = np.full(len(self.yi), -1 if default is None else default)
        done = np.zeros(len(self.yi), bool)
        for conds, k in rules:
            fires = self.fires(conds) & ~done
            out[fires] = k
            done |= fires
        return out

    def default(self, rules) -> int:
        left = self.outcome(rules) < 0
        return int(np.bincount(self.yi[left] if left.any() else self.yi, minlength=self.K).argmax())

    def accuracy(self, rules) -> float:
        return float((self.outcome(rules, self.default(rules)) == self.yi).mean())

    def refine(self, rules, margin=0.5):
        """One sweep of coordinate ascent on training accuracy: each rule in turn is replaced by
        the rule that does best given all the others (and the default) as they are."""
        rules = list(rules)
        for i in range(len(rules)):
            default = self.default(rules)
            reach = self.outcome(rules[:i]) < 0
            rest = (self.outcome(rules[i + 1:], default) == self.yi).astype(np.float32)
            G = (self.Y - rest[:, None]) * reach[:, None]
            candidate, score = self._best(G, reach)
            conds, k = rules[i]
            current = float((G[:, k] * self.fires(conds)).sum())
            if score > current + margin:
                rules[i] = candidate
        return rules

    def prune(self, rules):
        """Drop rules from the end while the list without them is at least as accurate."""
        rules = list(rules)
        while rules and self.accuracy(rules[:-1]) >= self.accuracy(rules):
            rules = rules[:-1]
        return rules


def learn_rule_list(B, yi, K, *, max_rules, alphas, min_support, random_state, repeats=3, sweeps=1, margin=0.0):
    """Choose ``alpha`` and the list length by 3-fold cross-validation (repeated ``repeats`` times
    with different splits: one split alone makes the choice noisy), then grow, refine, prune."""
    n_rules, alpha = max_rules, alphas[len(alphas) // 2]
    if B.shape[1] == 0:  # no concept score varies over the training texts: no condition to test
        return [], float(alpha)
    if len(alphas) > 1 and np.bincount(yi, minlength=K).min() >= 3:
        scores = np.zeros((len(alphas), max_rules + 1))
        folds = [split for r in range(repeats)
                 for split in StratifiedKFold(3, shuffle=True, random_state=random_state + r).split(B, yi)]
        for train, valid in folds:
            search = _RuleSearch(B[train], yi[train], K, min_support=min_support)
            held = _RuleSearch(B[valid], yi[valid], K, min_support=min_support)
            for a, value in enumerate(alphas):
                grown = search.grow(max_rules, value)
                for r in range(max_rules + 1):
                    prefix = grown[:r]
                    scores[a, r] += (held.outcome(prefix, search.default(prefix)) == held.yi).mean()
        a, n_rules = np.unravel_index(np.argmax(scores - 1e-6 * np.arange(max_rules + 1)), scores.shape)
        alpha = alphas[a]
    search = _RuleSearch(B, yi, K, min_support=min_support)
    rules = search.grow(max_rules, alpha)[:n_rules]
    for _ in range(sweeps):
        rules = search.refine(rules, max(0.5, margin * len(yi)))
    rules = search.prune(rules)
    return rules, float(alpha)
