"""What the two landmark-branch trainers share: AutoVC-converted audio and landmark targets.

The branches must see at training time exactly what inference gives them, so each clip's mel
goes through the trained AutoVC and the mel normalisation of the inference path
(`makeittalk.animation.engine.convert_voice` / `normalize_mel`, default mode), and windows are
cut as inference cuts them: window k covers frames k..k+17 (the last frame held past the end)
and predicts frame k.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from makeittalk.errors import MakeItTalkError
from makeittalk.training.data import Clip
from makeittalk.training.targets import LandmarkTargets, clip_targets

WINDOW_FRAMES = 18
FRAME_RATE = 62.5

# x -> -x mirror of the 68 iBUG points (left and right swap names).
MIRROR_INDEX = np.array(
    list(range(16, -1, -1))
    + list(range(26, 21, -1)) + list(range(21, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)


def mirror_rows(rows: np.ndarray) -> np.ndarray:
    """Mirror (..., 204) landmark rows (normalised space, origin on the face's midline)."""
    pts = rows.reshape(rows.shape[:-1] + (68, 3))[..., MIRROR_INDEX, :].copy()
    pts[..., 0] *= -1.0
    return pts.reshape(rows.shape)


@dataclass
class LandmarkClip:
    clip: Clip
    mel: np.ndarray  # (T + 17, 80) float32 normalised converted mel, padded for windows
    targets: LandmarkTargets
    speaker_embedding: np.ndarray  # (256,) Resemblyzer

    @property
    def num_frames(self) -> int:
        return self.targets.frame_mask.shape[0]

    def windows(self, frames: np.ndarray) -> np.ndarray:
        """(len(frames), 18, 80) windows predicting `frames`."""
        idx = frames[:, None] + np.arange(WINDOW_FRAMES)[None, :]
        return self.mel[idx]


def autovc_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()[:16]


class ConvertedAudio:
    """Converted, normalised mel per clip, computed once per AutoVC and cached in the run folder."""

    def __init__(self, autovc_weights: str, cache_root: Path, device: torch.device, features: str = "converted") -> None:
        from makeittalk.weights.store import load_network, resolve_network_dir

        if not autovc_weights:
            raise MakeItTalkError(
                "the landmark trainers need 'autovc_weights' in the config: the AutoVC whose output the "
                "branch will see at inference (a weight-set name, a weight-set folder or a saved autovc "
                "folder such as runs/autovc/best/autovc)"
            )
        folder, _ = resolve_network_dir("autovc", autovc_weights)
        self.source = str(autovc_weights)
        self.digest = autovc_digest(folder)
        self.model = load_network("autovc", autovc_weights, device=device)
        if features not in ("converted", "source"):
            raise MakeItTalkError(f"content_features must be 'converted' or 'source', got {features!r}")
        self.features = features
        self.cache = cache_root / (f"autovc-{self.digest}" if features == "converted" else "source-mel")
        self.cache.mkdir(parents=True, exist_ok=True)

    def mel(self, clip: Clip) -> np.ndarray:
        from makeittalk.animation.engine import AnimationConfig, convert_voice, normalize_mel, pad_for_windows
        from makeittalk.resources import autovc_target_speaker_embedding

        path = self.cache / f"{clip.id}.npy"
        if path.is_file():
            return np.load(path)
        a = clip.arrays()
        if self.features == "source":
            padded = pad_for_windows(normalize_mel(a["mel"])).astype(np.float32)
        else:
            f0 = np.eye(257, dtype=np.float32)[a["f0_bins"].astype(np.int64)]
            converted = convert_voice(
                self.model, a["mel"], f0, a["autovc_source_embedding"], autovc_target_speaker_embedding(),
                overlap=AnimationConfig().autovc_overlap,
            )
            padded = pad_for_windows(normalize_mel(converted)).astype(np.float32)
        tmp = path.with_name(f".{path.stem}.{torch.randint(1 << 30, ()).item()}.npy")
        np.save(tmp, padded)
        tmp.replace(path)
        return padded


def delay_windows(padded_mel: np.ndarray, delay_frames: int) -> np.ndarray:
    """Front-pad a window-padded mel with `delay_frames` copies of its first frame, so that the
    window at index k covers frames k-delay..k-delay+17: the landmark frame k then sits inside its
    window with `delay_frames` of past audio before it (the engine does the same, see
    `makeittalk.animation.engine.delay_content_windows`)."""
    if delay_frames <= 0:
        return padded_mel
    return np.concatenate([np.repeat(padded_mel[:1], delay_frames, axis=0), padded_mel])


def load_landmark_clips(clips: list[Clip], audio: ConvertedAudio, lips_offset_frames: int,
                        window_delay_frames: int = 0) -> list[LandmarkClip]:
    out = []
    for clip in clips:
        a = clip.arrays()
        targets = clip_targets(a, clip.kind, lips_offset_frames)
        mel = delay_windows(audio.mel(clip), window_delay_frames)
        out.append(LandmarkClip(clip, mel, targets, a["speaker_embedding"].astype(np.float32)))
    return out


def mouth_opening_rows(rows: np.ndarray) -> np.ndarray:
    """Inner-lip gap |p62 - p66| of (N, 204) rows (normalised units: face width 1.6)."""
    pts = rows.reshape(-1, 68, 3)
    return np.linalg.norm(pts[:, 62, :2] - pts[:, 66, :2], axis=-1)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0
