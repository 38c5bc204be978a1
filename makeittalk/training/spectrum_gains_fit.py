"""Fitting a SpectrumGainModel (makeittalk.animation.spectrum_gains) on training clips.

A weighted ridge regression from each clip's speech spectrum to its log gains. Clips are weighted
so that every group, and every speaker within it, counts the same; the ridge strength is the one
with the least error over five folds that hold out whole speakers (a one-speaker group's clips
are spread over the folds). Used by scripts/fit_head_motion.py --size-model and
scripts/fit_animation_gains.py --gain-model.
"""

from __future__ import annotations

import sys

import numpy as np

RIDGE = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
FOLDS = 5


def ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients, intercept) on raw features of the weighted ridge fit on standardised ones."""
    mean = (w[:, None] * x).sum(0) / w.sum()
    scale = np.sqrt((w[:, None] * (x - mean) ** 2).sum(0) / w.sum()) + 1e-6
    z = (x - mean) / scale
    y_mean = (w[:, None] * y).sum(0) / w.sum()
    b = np.linalg.solve(z.T @ (w[:, None] * z) + lam * np.eye(x.shape[1]), z.T @ (w[:, None] * (y - y_mean)))
    coefficients = b / scale[:, None]
    return coefficients, y_mean - mean @ coefficients


def fit_gain_model(features: np.ndarray, log_targets: np.ndarray, groups: list[str], speakers: list[str],
                   channels: tuple[str, ...]):
    """(SpectrumGainModel, report) from (N, 160) features, (N, channels) log gains, and each clip's
    group and speaker."""
    from makeittalk.animation.spectrum_gains import SpectrumGainModel

    x, y = np.asarray(features, np.float64), np.asarray(log_targets, np.float64).reshape(len(features), -1)
    group = np.array(groups)
    speaker = np.array([f"{g}/{s}" for g, s in zip(groups, speakers)])
    w = np.array([1.0 / ((speaker == s).sum() * len(set(speaker[group == g]))) for s, g in zip(speaker, group)])
    rng = np.random.default_rng(0)
    many = sorted(s for g in set(group) if len(set(speaker[group == g])) > 1 for s in set(speaker[group == g]))
    fold_of = {s: k % FOLDS for k, s in enumerate(rng.permutation(many))}
    folds = np.array([fold_of[s] if s in fold_of else k % FOLDS for k, s in enumerate(speaker)])
    errors = {}
    for lam in RIDGE:
        error = 0.0
        for f in range(FOLDS):
            held = folds == f
            coefficients, intercept = ridge(x[~held], y[~held], w[~held], lam)
            error += float((w[held][:, None] * (x[held] @ coefficients + intercept - y[held]) ** 2).sum())
        errors[lam] = error / w.sum()
        print(f"ridge {lam:g}: cross-validated weighted squared error {errors[lam]:.4f}", file=sys.stderr)
    lam = min(errors, key=errors.get)
    coefficients, intercept = ridge(x, y, w, lam)
    prior = (w[:, None] * y).sum(0) / w.sum()
    model = SpectrumGainModel(tuple(channels), coefficients, intercept, prior)
    report = {"ridge": lam, "cv_error": {str(k): v for k, v in errors.items()}, "clips": len(x),
              "speakers": len(set(speaker)), "prior_gains": np.exp(prior).round(3).tolist(),
              "rule": "weighted ridge (each group, and each speaker in it, weighs the same) from the speech "
                      "spectrum to the log gains; strength by 5-fold cross-validation over training speakers"}
    return model, report
