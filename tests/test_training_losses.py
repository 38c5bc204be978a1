"""The content branch's motion terms (training.losses), on hand-made landmark rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from makeittalk.training.losses import inner_opening, lip_velocity_l1, opening_correlation_loss, opening_l1

RUN = 8


def _rows(openings: np.ndarray, base_y: float = 0.5) -> torch.Tensor:
    """(N, 204) rows whose three inner-lip pairs are `openings` apart (lower lid y - upper y)."""
    rows = np.zeros((len(openings), 68, 3), dtype=np.float64)
    rows[:, :, 0] = np.linspace(-0.8, 0.8, 68)[None, :]
    rows[:, :, 1] = base_y
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        rows[:, upper, 1] = base_y - openings / 2
        rows[:, lower, 1] = base_y + openings / 2
    return torch.from_numpy(rows.reshape(len(openings), 204))


def _mask(n: int, mouth: bool = True) -> torch.Tensor:
    m = torch.ones(n, 68, dtype=torch.float64)
    if not mouth:
        m[:, 48:] = 0
    return m


def test_inner_opening_and_its_l1():
    target = _rows(np.full(RUN, 0.04))
    pred = _rows(np.full(RUN, 0.01))
    assert torch.allclose(inner_opening(target), torch.full((RUN, 3), 0.04, dtype=torch.float64))
    assert float(opening_l1(pred, target, _mask(RUN))) == pytest.approx(0.03, abs=1e-12)
    assert float(opening_l1(pred, target, _mask(RUN, mouth=False))) == 0.0


def test_velocity_term_scores_motion_not_offset():
    t = np.linspace(0, 2 * np.pi, RUN)
    target = _rows(0.03 + 0.02 * np.sin(t))
    shifted = _rows(0.03 + 0.02 * np.sin(t), base_y=0.6)  # same motion, another place
    still = _rows(np.full(RUN, 0.03))
    assert float(lip_velocity_l1(shifted, target, _mask(RUN), RUN)) == pytest.approx(0.0, abs=1e-12)
    # A still mouth misses all of the true motion: the mean |velocity| over the 20 mouth points'
    # x and y, of which only the six inner-lip y values move.
    moving = np.abs(np.diff(0.01 * np.sin(t))).sum() * 6 / ((RUN - 1) * 20 * 2)
    assert float(lip_velocity_l1(still, target, _mask(RUN), RUN)) == pytest.approx(moving, rel=1e-9)


def test_correlation_term_is_zero_for_the_same_rise_and_fall_at_any_size():
    t = np.linspace(0, 2 * np.pi, 2 * RUN)
    # Openings of a wide-open mouth in normalised units (face width 1.6), so that eps (1e-8) is
    # negligible against the sums of squares (~1e-3 here): r is 1 and -1 up to ~1e-5.
    target = _rows(0.3 + 0.2 * np.sin(t))
    smaller = _rows(0.1 + 0.05 * np.sin(t))
    opposite = _rows(0.3 - 0.2 * np.sin(t))
    mask = _mask(2 * RUN)
    assert float(opening_correlation_loss(smaller, target, mask, RUN)) == pytest.approx(0.0, abs=1e-4)
    assert float(opening_correlation_loss(opposite, target, mask, RUN)) == pytest.approx(2.0, abs=1e-4)
    # Runs without mouth points do not count; with none left the term is 0 and still differentiable.
    pred = smaller.clone().requires_grad_(True)
    loss = opening_correlation_loss(pred, target, _mask(2 * RUN, mouth=False), RUN)
    loss.backward()
    assert float(loss.detach()) == 0.0 and pred.grad is not None
