"""Losses of the MakeItTalk trainers (spec §2, §4.2, §5.4, §6.4).

Landmark tensors are (B, 204) rows ordered x0, y0, z0, x1, ... (the networks' layout) or
(B, 68, 3) points; masks are (B, 68) with 1 where a point has ground truth, so data with
partial landmark sets (the 20-point mouth tracks) train only the points they have.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from makeittalk.face.topology import LAPLACIAN_NEIGHBOURS

MOUTH_FIRST = 48
INNER_UPPER_MID, INNER_LOWER_MID = 62, 66


def as_points(rows: torch.Tensor) -> torch.Tensor:
    return rows.reshape(rows.shape[0], 68, 3)


def lip_weights(target: torch.Tensor, max_weight: float = 10.0) -> torch.Tensor:
    """(B, 68) weights: 1 for points 0-47; 1 / (4 |y66 - y62| + 0.1) for the mouth (spec §4.2).

    Closed mouths weigh up to 10x, so the network learns to shut the lips.
    """
    pts = as_points(target)
    gap = (pts[:, INNER_LOWER_MID, 1] - pts[:, INNER_UPPER_MID, 1]).abs()
    mouth = (1.0 / (4.0 * gap + 0.1)).clamp(max=max_weight)
    w = torch.ones(pts.shape[0], 68, device=target.device, dtype=target.dtype)
    w[:, MOUTH_FIRST:] = mouth.unsqueeze(1)
    return w


def masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of `values` (B, 68, D) weighted per point by `weights` (B, 68); 0 when all masked."""
    w = weights.unsqueeze(-1).expand_as(values)
    total = w.sum()
    return (values * w).sum() / total.clamp(min=1e-8)


def landmark_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, lip_weighted: bool) -> torch.Tensor:
    """L1 between (B, 204) predicted and true landmarks over the masked points (x, y, z)."""
    w = mask * lip_weights(target) if lip_weighted else mask
    return masked_mean((as_points(pred) - as_points(target)).abs(), w)


_NEIGHBOURS = torch.from_numpy(LAPLACIAN_NEIGHBOURS.copy())


def laplacian_points(points: torch.Tensor) -> torch.Tensor:
    table = _NEIGHBOURS.to(points.device)
    return points - 0.5 * (points[:, table[:, 0]] + points[:, table[:, 1]])


def laplacian_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 between graph Laplacians (8-part topology, 3-D points); a point counts when it and
    both its neighbours have ground truth."""
    table = _NEIGHBOURS.to(mask.device)
    valid = mask * mask[:, table[:, 0]] * mask[:, table[:, 1]]
    diff = (laplacian_points(as_points(pred)) - laplacian_points(as_points(target))).abs()
    return masked_mean(diff, valid)


def lsgan_discriminator(real_scores: torch.Tensor, fake_scores: torch.Tensor, real_weight: float = 1.0) -> torch.Tensor:
    """LSGAN: real -> 1, fake -> 0 (the original's commented-out D step weights real x2)."""
    return real_weight * F.mse_loss(real_scores, torch.ones_like(real_scores)) + F.mse_loss(
        fake_scores, torch.zeros_like(fake_scores)
    )


def lsgan_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(fake_scores, torch.ones_like(fake_scores))


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean structural similarity of (B, C, H, W) images in [0, 1] (Gaussian window)."""
    coords = torch.arange(window, dtype=x.dtype, device=x.device) - (window - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = (g / g.sum()).reshape(1, 1, -1)
    c = x.shape[1]
    kernel_h = g.reshape(1, 1, 1, -1).expand(c, 1, 1, window)
    kernel_v = g.reshape(1, 1, -1, 1).expand(c, 1, window, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kernel_h, groups=c), kernel_v, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean()


# Motion terms of the content branch (v2 defaults). Rows come in runs of consecutive frames:
# (B, 204) with B = runs * run_frames, run-major.

INNER_PAIRS = ((61, 67), (62, 66), (63, 65))  # upper / lower inner-lip points facing each other


def inner_opening(rows: torch.Tensor) -> torch.Tensor:
    """(B, 3) vertical gaps of the three facing inner-lip pairs (lower y minus upper y)."""
    pts = as_points(rows)
    return torch.stack([pts[:, lo, 1] - pts[:, up, 1] for up, lo in INNER_PAIRS], dim=1)


def lip_velocity_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, run_frames: int) -> torch.Tensor:
    """L1 between predicted and true frame-to-frame motion of the mouth points 48-67 (x, y)."""
    runs = pred.shape[0] // run_frames
    p = as_points(pred)[:, MOUTH_FIRST:, :2].reshape(runs, run_frames, 20, 2)
    t = as_points(target)[:, MOUTH_FIRST:, :2].reshape(runs, run_frames, 20, 2)
    m = mask[:, MOUTH_FIRST:].reshape(runs, run_frames, 20)
    valid = (m[:, 1:] * m[:, :-1]).unsqueeze(-1).expand(-1, -1, -1, 2)
    diff = ((p[:, 1:] - p[:, :-1]) - (t[:, 1:] - t[:, :-1])).abs()
    return (diff * valid).sum() / valid.sum().clamp(min=1.0)


def opening_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 between predicted and true inner-lip openings (three pairs), where the mouth exists."""
    valid = mask[:, 62].unsqueeze(1).expand(-1, len(INNER_PAIRS))
    diff = (inner_opening(pred) - inner_opening(target)).abs()
    return (diff * valid).sum() / valid.sum().clamp(min=1.0)


def opening_correlation_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, run_frames: int,
                             eps: float = 1e-8) -> torch.Tensor:
    """1 - pooled within-run Pearson r of the mean inner-lip opening.

    Each run is centred on its own mean, so the term scores the rise and fall of the mouth,
    not each clip's resting shape (which L1 already covers); pooling the runs keeps it stable
    where one short run barely moves. `eps` guards a division by zero; against the product of
    the two sums of squares of a real batch (about 1e-4 for 16 runs of 16 frames) it is negligible.
    """
    runs = pred.shape[0] // run_frames
    keep = mask[:, 62].reshape(runs, run_frames).amin(dim=1) > 0
    if not bool(keep.any()):
        return pred.sum() * 0.0
    p = inner_opening(pred).mean(dim=1).reshape(runs, run_frames)[keep]
    t = inner_opening(target).mean(dim=1).reshape(runs, run_frames)[keep]
    p = p - p.mean(dim=1, keepdim=True)
    t = t - t.mean(dim=1, keepdim=True)
    r = (p * t).sum() / torch.sqrt((p * p).sum() * (t * t).sum() + eps)
    return 1.0 - r
