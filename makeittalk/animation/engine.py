"""Audio → landmark animation: the MakeItTalk chain from speech and a static face to landmarks.

The chain (reference README §4, steps 6-21):

 6. AutoVC re-voices the mel as the fixed target speaker (chunks of 4096 frames, each
    zero-padded to a multiple of 32 frames);
 7. the converted mel is normalised per bin with the AutoVC mean/std;
 8. 18-frame windows, one per landmark frame (window k predicts frame k);
 9. the speaker branch gives Δs (head motion and expression), one attention sequence per block;
10-12. Δs is smoothed, its mouth closed and scaled by `amp_pos`;
13-14. the content branch gives Δc (lips), calibrated to a zero rest pose, lips amplified;
15-18. sum with the face q, inverse-lip fix, nose fix, final smoothing;
19-21. denormalisation to portrait pixels, eyelid narrowing and blinks, smoothing.

Two modes:

* ``compat="original"`` reproduces the original release step for step, including its
  defects: it drops the last 18 mel frames (~0.29 s), cuts the windows into independent
  512-window segments (attention never crosses one, positions restart, smoothing and
  calibration are per segment) and skips a final segment shorter than 10 windows. Blinks use
  the original schedule on `np.random.RandomState(seed)`; seed 0 is what the original
  effectively used. At 62.5 fps its frames are exactly the original's frames.
* the default mode fixes those defects (each choice is documented where it is made):
  the mel is repeat-padded so there is one window per mel frame and the animation covers the
  whole audio; long audio is processed in overlapping 512-window blocks whose Δs is
  cross-faded, so there are no seams; AutoVC chunks overlap and are cross-faded the same way;
  smoothing and calibration run over the whole clip; blinks are seeded and their rate is
  configurable; the result is resampled to the requested frame rate.
"""

from __future__ import annotations

import contextlib
import functools
import math
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from makeittalk.animation import postprocess as pp
from makeittalk.animation.tuning import check_tuning as _check_tuning
from makeittalk.animation.tuning import weight_set_tuning as _weight_set_tuning
from makeittalk.animation.blinks import (
    INTERNAL_FPS,
    RAMP_AFTER,
    RAMP_BEFORE,
    blink_schedule,
    original_blink_frames,
)
from makeittalk.animation.export import LandmarkSequence
from makeittalk.animation.resample import frame_count, resample
from makeittalk.errors import MakeItTalkError, MissingStageError
from makeittalk.models.speaker_branch import SPEAKER_EMBEDDING_SCALE

__all__ = [
    "AnimationConfig",
    "AnimationResult",
    "LandmarkAnimator",
    "COMPAT_MODES",
    "LANDMARK_NETWORKS",
    "WINDOW_FRAMES",
    "convert_voice",
    "normalize_mel",
    "mel_windows",
    "pad_for_windows",
    "speaker_blocks",
    "crossfade",
    "even_starts",
    "run_content_branch",
    "run_speaker_branch",
]

COMPAT_MODES = (None, "original")
# The networks this engine needs, in chain order.
LANDMARK_NETWORKS = ("autovc", "content_branch", "speaker_branch")

WINDOW_FRAMES = 18
SEGMENT_WINDOWS = 512  # the original's seg_bs and the speaker branch's PE capacity
# Progress shares of the chain's steps, from their measured costs on a CPU (AutoVC's decoder
# LSTM dominates; the speaker branch and the post-processing share the rest).
SHARE_AFTER_AUTOVC = 0.55
SHARE_AFTER_CONTENT = 0.75
MAX_FPS = 240.0  # highest output frame rate accepted
MIN_SEGMENT_WINDOWS = 10  # the original skips shorter trailing segments
AUTOVC_CHUNK = 4096
AUTOVC_PAD = 32


@dataclass(frozen=True)
class AnimationConfig:
    """Everything that shapes the motion; `LandmarkAnimator.animate` builds one from its keywords.

    fps: output frame rate; frame i is at i/fps from the start of the audio.
    seed: blink seed; the same input, seed and settings give the same output.
    still: no head motion. The speaker branch's Δs carries the rigid head motion *and*
        speaker-specific expression, mixed; separating the rigid part would need a rigid fit
        in a space whose depth is synthetic (z comes from the standard face), and a partial
        removal leaves a residual sway. So `still` drops all of Δs (the simplest honest
        choice) and skips the speaker branch; lips (Δc) and blinks stay. Overrides pose_scale.
    pose_scale: multiplies the original's amp_pos (0.5): 1.0 is the original's motion, 0 none.
    lip_scale: multiplies the original's amp_lip_x and amp_lip_y (2.0): 1.0 is the original's
        mouth motion, 0 a closed mouth at its rest shape.
    blink: False leaves only the constant eyelid narrowing (the original's blink-free look).
    blink_rate: average blinks per minute in the default mode (intervals jittered ±25 %);
        the default 30 is close to the original's ≈31.4. The original schedule ignores it.
    compat: None (default, fixed) or "original" (the original release step for step). In
        compat mode pose_scale, lip_scale and still act on the original's amp_pos, amp_lip_x
        and amp_lip_y (its command-line options), blinks follow the original schedule drawn
        from np.random.RandomState(seed) (seed 0 is what the original effectively used) and
        blink_rate is ignored.
    block_windows / block_overlap: default-mode speaker-branch blocks: 512 windows (the
        positional-encoding capacity, and what the networks saw in the original) overlapping
        by at least 128 windows (2 s), cross-faded linearly over each overlap.
    autovc_overlap: default-mode overlap, in frames, of neighbouring 4096-frame AutoVC chunks.
    content_batch / speaker_batch_blocks: batch sizes of the network calls (speed/memory only).
    """

    fps: float = 25.0
    seed: int = 0
    still: bool = False
    pose_scale: float = 1.0
    lip_scale: float = 1.0
    blink: bool = True
    blink_rate: float = 30.0
    compat: str | None = None
    block_windows: int = SEGMENT_WINDOWS
    block_overlap: int = 128
    autovc_overlap: int = 256
    content_batch: int = 2048
    speaker_batch_blocks: int = 4

    def __post_init__(self) -> None:
        if self.compat not in COMPAT_MODES:
            raise MakeItTalkError(f"unknown compat mode {self.compat!r}: use 'original' or leave it unset")
        # Above the 62.5 fps the networks run at, frames are pure interpolation; 240 covers
        # every real video rate while keeping a typo from asking for millions of frames.
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            raise MakeItTalkError(f"fps must be a number above 0 and at most {MAX_FPS:g}, got {self.fps!r}")
        # Both blink schedules seed NumPy generators, which reject negative (and, for the
        # original's RandomState, 2**32 and larger) seeds with a bare ValueError.
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or not 0 <= self.seed < 2**32:
            raise MakeItTalkError(f"seed must be a whole number from 0 to {2**32 - 1}, got {self.seed!r}")
        for name in ("pose_scale", "lip_scale", "blink_rate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise MakeItTalkError(f"{name} must be a number >= 0, got {value!r}")
        if not 0 <= self.block_overlap <= self.block_windows // 2:
            raise MakeItTalkError(f"block_overlap must be between 0 and block_windows/2, got {self.block_overlap}")
        if not 0 <= self.autovc_overlap < AUTOVC_CHUNK // 2:
            raise MakeItTalkError(f"autovc_overlap must be between 0 and {AUTOVC_CHUNK // 2}, got {self.autovc_overlap}")

    @property
    def amp_pos(self) -> float:
        return 0.0 if self.still else pp.DEFAULT_AMP_POS * self.pose_scale

    @property
    def amp_lip(self) -> float:
        return pp.DEFAULT_AMP_LIP * self.lip_scale


@dataclass
class AnimationResult:
    """The sequence plus the chain's intermediates at the internal 62.5 fps (for tests/tools).

    mel_norm (T, 80) float64; delta_speaker_raw / delta_content_raw (N, 204) float32 (one row
    per window; Δs is zeros when `still`); landmarks_normalized (N, 204) the final normalised
    landmarks (compat: after the original's %.6f text round trip); pixels (N, 68, 3) the
    final pixel landmarks at 62.5 fps; blink_frames the internal frames that blink.
    """

    sequence: LandmarkSequence
    mel_norm: np.ndarray
    delta_speaker_raw: np.ndarray
    delta_content_raw: np.ndarray
    landmarks_normalized: np.ndarray
    pixels: np.ndarray
    blink_frames: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Steps 6-8: voice conversion, normalisation, windows


def _batches_of_equal_length(spans: Sequence[tuple[int, int]], batch: int) -> Iterator[list[tuple[int, int]]]:
    """Group (start, stop) spans of equal length into lists of at most `batch`, order kept."""
    by_length: dict[int, list[tuple[int, int]]] = {}
    for span in spans:
        by_length.setdefault(span[1] - span[0], []).append(span)
    for members in by_length.values():
        for first in range(0, len(members), batch):
            yield members[first : first + batch]


def even_starts(total: int, length: int, min_overlap: int) -> list[int]:
    """Starts of the fewest `length`-long pieces covering `total` frames with neighbours sharing
    at least `min_overlap` frames, spread evenly (one piece at 0 when `total <= length`)."""
    if total <= length:
        return [0]
    count = math.ceil((total - min_overlap) / (length - min_overlap))
    return [int(s) for s in np.round(np.linspace(0, total - length, count)).astype(int)]


def convert_voice(
    autovc: torch.nn.Module,
    mel: np.ndarray,
    f0_onehot: np.ndarray,
    c_org: np.ndarray,
    c_trg: np.ndarray,
    *,
    chunk: int = AUTOVC_CHUNK,
    overlap: int = 0,
    batch: int = 4,
) -> np.ndarray:
    """Step 6: the post-net mel (T, 80) float32 of `mel` re-voiced as `c_trg`.

    overlap == 0 is the original: consecutive 4096-frame chunks, each zero-padded to a
    multiple of 32 frames (padded F0 rows all zero), outputs concatenated, padding removed.
    overlap > 0 (default mode) makes neighbouring chunks share `overlap` frames and blends
    them linearly there, so the decoder's restart at a chunk border leaves no step in the mel.
    Equal-length chunks run together, `batch` at a time.
    """
    device = next(autovc.parameters()).device
    mel32 = np.asarray(mel).astype(np.float32)
    f032 = np.asarray(f0_onehot).astype(np.float32)
    total = mel32.shape[0]
    if total == 0:
        raise MakeItTalkError("the audio is empty: no mel frames to convert")
    c_org_t = torch.from_numpy(np.asarray(c_org, dtype=np.float32).reshape(1, -1)).to(device)
    c_trg_t = torch.from_numpy(np.asarray(c_trg).astype(np.float32).reshape(1, -1)).to(device)

    if overlap == 0:
        pieces = [(s, min(s + chunk, total)) for s in range(0, total, chunk)]
    else:
        pieces = [(s, min(s + chunk, total)) for s in even_starts(total, chunk, overlap)]

    outputs: dict[tuple[int, int], np.ndarray] = {}
    with torch.inference_mode():
        for group in _batches_of_equal_length(pieces, batch):
            length = group[0][1] - group[0][0]
            padded = length + (-length) % AUTOVC_PAD
            x = np.zeros((len(group), padded, mel32.shape[1]), dtype=np.float32)
            f = np.zeros((len(group), padded, f032.shape[1]), dtype=np.float32)
            for row, (s, e) in enumerate(group):
                x[row, : e - s] = mel32[s:e]
                f[row, : e - s] = f032[s:e]
            y = autovc.convert(
                torch.from_numpy(x).to(device),
                c_org_t.expand(len(group), -1),
                c_trg_t.expand(len(group), -1),
                torch.from_numpy(f).to(device),
            )
            y = y.float().cpu().numpy()
            for row, piece in enumerate(group):
                outputs[piece] = y[row, :length]

    if overlap == 0:
        return np.concatenate([outputs[p] for p in pieces], axis=0)
    return crossfade([outputs[p] for p in pieces], [p[0] for p in pieces], total).astype(np.float32)


def normalize_mel(mel: np.ndarray) -> np.ndarray:
    """Step 7: (mel − mean)/std per bin in float64 with the AutoVC training statistics."""
    from makeittalk.resources import autovc_mel_mean_std

    mean, std = autovc_mel_mean_std()
    return (np.asarray(mel).astype(np.float64) - mean) / std


def pad_for_windows(mel_norm: np.ndarray) -> np.ndarray:
    """Default mode: repeat the last frame 17 times so there is one 18-frame window per mel frame.

    Window k covers frames k..k+17, so frame T−1 (the end of the audio) gets a window whose
    future context is the held last frame: the animation then covers the whole audio, and any
    clip with at least one mel frame (≥ 1 sample) works. Repeating rather than zero-padding
    keeps the padded frames inside the normalised-mel distribution.
    """
    tail = np.repeat(mel_norm[-1:], WINDOW_FRAMES - 1, axis=0)
    return np.concatenate([mel_norm, tail], axis=0)


def delay_content_windows(mel32: torch.Tensor, delay_frames: int) -> torch.Tensor:
    """Front-pad the window-padded mel with `delay_frames` copies of its first frame, so content
    window k covers frames k-d..k-d+17 and the frame it predicts has d frames of past audio.

    For content branches trained that way (weightset.json animation `content_delay_frames`,
    training's `window_delay_frames`); the original networks use d = 0.
    """
    if delay_frames <= 0:
        return mel32
    return torch.cat([mel32[:1].expand(delay_frames, -1), mel32])


def mel_windows(mel32: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Step 8: windows start..stop-1 of a (T, 80) float32 mel as a (stop−start, 18, 80) tensor."""
    piece = mel32[start : stop + WINDOW_FRAMES - 1]
    return piece.unfold(0, WINDOW_FRAMES, 1).transpose(1, 2).contiguous()


# --------------------------------------------------------------------------------------------
# Steps 9 and 13: the two branches


def run_content_branch(
    net: torch.nn.Module, mel32: torch.Tensor, face_id: np.ndarray, num_windows: int, batch: int = 2048
) -> np.ndarray:
    """Step 13: Δc (num_windows, 204) float32. Windows are independent rows, so batch freely."""
    device = next(net.parameters()).device
    face = torch.from_numpy(np.asarray(face_id, dtype=np.float32).reshape(1, -1)).to(device)
    out = np.empty((num_windows, 204), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, num_windows, batch):
            stop = min(start + batch, num_windows)
            windows = mel_windows(mel32, start, stop).to(device)
            out[start:stop] = net(windows, face).float().cpu().numpy()
    return out


def speaker_blocks(num_windows: int, block: int = SEGMENT_WINDOWS, overlap: int = 128) -> list[tuple[int, int]]:
    """Default-mode attention blocks: evenly spaced, `block` windows long, overlapping ≥ `overlap`.

    Clips up to `block` windows are one block. Longer ones get the fewest blocks whose
    neighbours share at least `overlap` windows, spread evenly so every overlap is about the
    same; every block is full length, so the positional encodings see what they saw in
    training and the blocks can run as one batch.
    """
    if num_windows <= block:
        return [(0, num_windows)]
    return [(s, s + block) for s in even_starts(num_windows, block, overlap)]


def crossfade(pieces: Sequence[np.ndarray], starts: Sequence[int], total: int) -> np.ndarray:
    """Blend overlapping pieces (each (len, ...)) placed at `starts` into one (total, ...) array.

    Each piece's weight ramps linearly from ~0 to 1 across its overlap with the previous piece
    and back down across its overlap with the next one (flat 1 elsewhere); the result is the
    weight-normalised sum, so two pieces' contributions always sum to one and the output is
    continuous across every border.
    """
    shape = (total,) + tuple(pieces[0].shape[1:])
    acc = np.zeros(shape, dtype=np.float64)
    weight_sum = np.zeros(total, dtype=np.float64)
    spans = [(int(s), int(s) + p.shape[0]) for s, p in zip(starts, pieces)]
    for i, (piece, (s, e)) in enumerate(zip(pieces, spans)):
        t = np.arange(s, e, dtype=np.float64)
        w = np.ones(e - s)
        if i > 0 and spans[i - 1][1] > s:
            length = spans[i - 1][1] - s
            w = np.minimum(w, (t - s + 0.5) / length)
        if i + 1 < len(spans) and spans[i + 1][0] < e:
            length = e - spans[i + 1][0]
            w = np.minimum(w, (e - t - 0.5) / length)
        acc[s:e] += w.reshape((-1,) + (1,) * (acc.ndim - 1)) * piece
        weight_sum[s:e] += w
    if np.any(weight_sum <= 0):  # pragma: no cover - the pieces must cover [0, total)
        raise ValueError("crossfade pieces do not cover the whole range")
    return acc / weight_sum.reshape((-1,) + (1,) * (acc.ndim - 1))


def run_speaker_branch(
    net: torch.nn.Module,
    mel32: torch.Tensor,
    embedding: np.ndarray,
    blocks: Sequence[tuple[int, int]],
    batch_blocks: int = 4,
    *,
    share_audio_encoding: bool = False,
    window_batch: int = 2048,
) -> list[np.ndarray]:
    """Step 9: Δs (len, 204) float32 for each block; each block is one attention sequence.

    `embedding` is the raw Resemblyzer mean embedding (256,); it goes in ×3.0 in float32 and
    tiled to every window, as the original. Blocks of equal length run as one batch.

    `share_audio_encoding` (default mode, overlapping blocks): a window's LSTM encoding does
    not depend on its block, so it is computed once per window instead of once per block it
    belongs to (the LSTM is ~90 % of the branch's time); only attention and the output MLP
    run per block. Needs the network's parts (see `_speaker_parts`); otherwise, and in compat
    mode, the network's own forward runs on every block.
    """
    device = next(net.parameters()).device
    emb = np.asarray(embedding, dtype=np.float32).reshape(-1) * np.float32(SPEAKER_EMBEDDING_SCALE)
    emb_t = torch.from_numpy(emb).to(device)
    results: dict[tuple[int, int], np.ndarray] = {}
    parts = _speaker_parts(net) if share_audio_encoding and len(blocks) > 1 else None
    with torch.inference_mode():
        if parts is not None:
            first, last = min(s for s, _ in blocks), max(e for _, e in blocks)
            audio = torch.cat(
                [
                    parts.encode_audio(mel_windows(mel32, s, min(s + window_batch, last)).to(device))
                    for s in range(first, last, window_batch)
                ]
            )
            speaker_code = parts.encode_speaker(emb_t)
        for group in _batches_of_equal_length(list(blocks), batch_blocks):
            length = group[0][1] - group[0][0]
            if parts is not None:
                tokens = torch.stack([audio[s - first : e - first] for s, e in group])
                delta = parts.decode(tokens, speaker_code)
            else:
                windows = torch.stack([mel_windows(mel32, s, e) for s, e in group]).to(device)
                delta, _ = net(windows, emb_t.view(1, 1, -1).expand(len(group), length, -1))
            delta = delta.float().cpu().numpy()
            for row, span in enumerate(group):
                results[span] = delta[row]
    return [results[tuple(span)] for span in blocks]


@dataclass(frozen=True)
class _SpeakerParts:
    """The speaker branch split at the point where windows start to interact (attention).

    Mirrors `SpeakerBranch.forward` at inference (z = 0, no speaker noise); a test checks that
    the two agree, so a change to the network cannot silently diverge from this path.
    """

    net: Any

    def encode_audio(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, 18, 80) windows → (B, hidden) last-step LSTM outputs."""
        out, _ = self.net.audio_encoder(windows)
        return out[:, -1]

    def encode_speaker(self, emb: torch.Tensor) -> torch.Tensor:
        return self.net.speaker_encoder(emb.view(1, -1))[0]

    def decode(self, audio: torch.Tensor, speaker_code: torch.Tensor) -> torch.Tensor:
        """(B, S, hidden) audio codes of consecutive windows → Δs (B, S, 204)."""
        b, s = audio.shape[:2]
        z = audio.new_zeros(b, s, self.net.config.z_size)
        tokens = torch.cat((audio, speaker_code.view(1, 1, -1).expand(b, s, -1), z), dim=-1)
        return self.net.head(torch.cat((self.net.transformer(tokens), z), dim=-1))


def _speaker_parts(net: Any) -> _SpeakerParts | None:
    needed = ("audio_encoder", "speaker_encoder", "transformer", "head")
    if all(hasattr(net, name) for name in needed) and hasattr(getattr(net, "config", None), "z_size"):
        return _SpeakerParts(net)
    return None


@contextlib.contextmanager
def _exact_float32(device: torch.device) -> Iterator[None]:
    """Disable TF32 on CUDA for the duration (compat mode compares to float32 references)."""
    if device.type != "cuda":
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


# --------------------------------------------------------------------------------------------
# The animator


class LandmarkAnimator:
    """Turns speech and a static face into 68-point landmarks over time.

    Build it with `from_pretrained(weights)` (or from networks directly); call `animate`.
    The Resemblyzer speaker encoder is created on first use and kept.
    """

    def __init__(
        self,
        autovc: torch.nn.Module,
        content_branch: torch.nn.Module,
        speaker_branch: torch.nn.Module,
        *,
        weights_name: str = "custom",
        speaker_encoder: Any | None = None,
        tuning: dict[str, Any] | None = None,
    ) -> None:
        self.autovc = autovc.eval()
        self.content_branch = content_branch.eval()
        self.speaker_branch = speaker_branch.eval()
        self.weights_name = weights_name
        self._speaker_encoder = speaker_encoder
        self.tuning = _check_tuning(tuning or {})

    @property
    def device(self) -> torch.device:
        return next(self.content_branch.parameters()).device

    @property
    def face_tweaks(self) -> bool:
        """Whether portraits get the original's pixel tweaks before normalisation (weight-set choice)."""
        return bool(self.tuning.get("face_tweaks", True))

    def static_face(self, pixels: Any, z_scale: float | None = None) -> Any:
        """The StaticFace of (68, 2|3) portrait pixel landmarks, as this animator's networks expect."""
        from makeittalk.face import PHOTO_Z_SCALE, StaticFace, apply_original_tweaks

        points = np.asarray(pixels, dtype=np.float64)
        if self.face_tweaks:
            points = apply_original_tweaks(points)
        return StaticFace.from_landmarks(points, z_scale=PHOTO_Z_SCALE if z_scale is None else z_scale)

    @classmethod
    def from_pretrained(
        cls,
        weights: str = "default",
        device: str | torch.device | None = None,
        *,
        speaker_encoder: Any | None = None,
    ) -> LandmarkAnimator:
        """Load AutoVC and both landmark branches from the weight set `weights` (name or folder).

        Raises MissingStageError naming every network the set lacks and how to get them.
        """
        from makeittalk.device import pick_device

        try:
            from makeittalk.weights import load_network
        except ImportError:  # the package may re-export it later than the store defines it
            from makeittalk.weights.store import load_network

        target = device if isinstance(device, torch.device) else pick_device(device)
        networks: dict[str, torch.nn.Module] = {}
        missing: list[str] = []
        problems: list[str] = []
        for name in LANDMARK_NETWORKS:
            try:
                networks[name] = load_network(name, weights, device=target)
            except MissingStageError as exc:  # the set lacks this network (or no set is installed)
                missing.append(name)
                problems.append(str(exc))
        if missing:
            raise MissingStageError(_missing_message(weights, missing, problems))
        return cls(
            networks["autovc"],
            networks["content_branch"],
            networks["speaker_branch"],
            weights_name=_weights_display_name(weights),
            speaker_encoder=speaker_encoder,
            tuning=_weight_set_tuning(weights),
        )

    # ---- audio ---------------------------------------------------------------------------

    @property
    def speaker_encoder(self) -> Any:
        if self._speaker_encoder is None:
            from makeittalk.audio import SpeakerEncoder

            self._speaker_encoder = SpeakerEncoder()
        return self._speaker_encoder

    @property
    def uses_voice(self) -> bool:
        """Whether the default chain runs AutoVC and the speaker branch (so needs the F0 and the
        speaker embeddings): not for sets whose content branch reads the source mel and whose
        speaker-branch motion is switched off (animation amp_pos 0)."""
        return (self.tuning.get("content_features", "converted") != "source"
                or float(self.tuning.get("amp_pos", pp.DEFAULT_AMP_POS)) != 0.0)

    def features(self, audio: Any, progress: Callable[[float], None] | None = None, *,
                 voice: bool | None = None) -> Any:
        """AudioFeatures of `audio` (a path, a Waveform, (array, rate), or AudioFeatures).

        `progress(fraction)` is called as the front end's steps finish. `voice` (default: what
        this set's default chain needs, `uses_voice`) includes the F0 and speaker embeddings."""
        if hasattr(audio, "mel") and hasattr(audio, "f0_onehot"):
            return audio
        from makeittalk.audio import extract_features, load_audio

        waveform = audio if hasattr(audio, "samples") and hasattr(audio, "as_float64") else load_audio(audio)
        if waveform.num_samples == 0:
            raise MakeItTalkError(f"{getattr(waveform, 'source', 'the audio')} has no samples")
        voice = self.uses_voice if voice is None else voice
        return extract_features(waveform, self.speaker_encoder, progress=progress, voice=voice)

    # ---- the chain -----------------------------------------------------------------------

    def run(
        self,
        audio: Any,
        face: Any,
        config: AnimationConfig = AnimationConfig(),
        *,
        image_size: tuple[int, int] | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> AnimationResult:
        """Run the whole chain and keep its intermediates (see AnimationResult).

        `progress(fraction)` is called as the networks finish (AutoVC, content, speaker branch).
        """
        needs_voice = config.compat == "original" or self.uses_voice
        feats = self.features(audio, voice=needs_voice)
        if needs_voice and not feats.has_voice:
            raise MakeItTalkError("these audio features were extracted without the voice features (F0, speaker "
                                  "embedding) that AutoVC and the speaker branch need; extract them with "
                                  "animator.features(audio, voice=True)")
        static = _as_static_face(face, self.face_tweaks)
        report = progress or (lambda fraction: None)
        with _exact_float32(self.device):
            if config.compat == "original":
                result = self._run_original(feats, static, config, image_size, report)
            else:
                result = self._run_default(feats, static, config, image_size, report)
        report(1.0)
        return result

    def animate(
        self,
        audio: Any,
        face: Any,
        *,
        fps: float = 25.0,
        seed: int = 0,
        still: bool = False,
        pose_scale: float = 1.0,
        lip_scale: float = 1.0,
        blink: bool = True,
        blink_rate: float = 30.0,
        compat: str | None = None,
        image_size: tuple[int, int] | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> LandmarkSequence:
        """Landmarks (num_frames, 68, 3) in portrait pixels at `fps` for `audio` spoken by `face`.

        `audio`: a path (any format ffmpeg reads), a Waveform, (samples, rate) or AudioFeatures.
        `face`: a StaticFace, or (68, 2|3) pixel landmarks as detected, to which the original's
        fixed pixel tweaks (thinner lips, wider eyes) are applied before normalisation.
        `progress(fraction)` reports the networks' progress. See AnimationConfig for the rest.
        """
        config = AnimationConfig(
            fps=fps, seed=seed, still=still, pose_scale=pose_scale, lip_scale=lip_scale,
            blink=blink, blink_rate=blink_rate, compat=compat,
        )
        return self.run(audio, face, config, image_size=image_size, progress=progress).sequence

    def _mel_norm(self, feats: Any, compat: bool, config: AnimationConfig) -> np.ndarray:
        from makeittalk.resources import autovc_target_speaker_embedding

        converted = convert_voice(
            self.autovc,
            feats.mel,
            feats.f0_onehot,
            feats.autovc_source_embedding,
            autovc_target_speaker_embedding(),
            overlap=0 if compat else config.autovc_overlap,
        )
        return normalize_mel(converted)

    def _run_original(self, feats: Any, face: Any, config: AnimationConfig, image_size, report) -> AnimationResult:
        mel_norm = self._mel_norm(feats, True, config)
        report(SHARE_AFTER_AUTOVC)
        num_windows = mel_norm.shape[0] - (WINDOW_FRAMES - 1) - 1  # Compatibility: T − 18, one short
        segments = [
            (s, min(s + SEGMENT_WINDOWS, num_windows))
            for s in range(0, max(num_windows, 0), SEGMENT_WINDOWS)
            if min(s + SEGMENT_WINDOWS, num_windows) - s >= MIN_SEGMENT_WINDOWS
        ]
        if not segments:
            raise MakeItTalkError(
                f"the audio is too short for compat='original' ({feats.seconds:.2f} s gives "
                f"{max(num_windows, 0)} windows; the original needs at least {MIN_SEGMENT_WINDOWS}, "
                f"about 0.45 s); drop --compat to animate clips of any length"
            )
        used = segments[-1][1]
        mel32 = torch.from_numpy(mel_norm.astype(np.float32))
        face_id = face.face_id
        delta_content = run_content_branch(self.content_branch, mel32, face_id, used, config.content_batch)
        report(SHARE_AFTER_CONTENT)
        if config.amp_pos == 0.0:
            delta_speaker = [np.zeros((e - s, 204), np.float32) for s, e in segments]
        else:
            delta_speaker = run_speaker_branch(
                self.speaker_branch, mel32, feats.speaker_embedding, segments, config.speaker_batch_blocks
            )
        parts = []
        for (s, e), ds in zip(segments, delta_speaker):
            # Compatibility: smoothing, calibration and the lip fix restart in every segment.
            ds_post = pp.scale_pose(pp.close_speaker_mouth(pp.smooth_speaker_delta(ds)), config.amp_pos)
            dc_post = pp.amplify_lips(pp.calibrate_content(delta_content[s:e]), config.amp_lip, config.amp_lip)
            fixed, _ = pp.fix_inverse_lips(pp.combine(ds_post, dc_post, face_id))
            parts.append(fixed)
        landmarks = pp.smooth_landmarks(pp.fix_nose_top(np.concatenate(parts)), 5)
        landmarks = pp.round_like_text(landmarks)
        pixels = pp.denormalize(landmarks, face.scale, face.shift)
        blinks = original_blink_frames(pixels.shape[0], np.random.RandomState(config.seed)) if config.blink else []
        pixels = pp.final_smoothing(pp.add_eyes(pixels, blinks))
        n = pixels.shape[0]
        # The original's frames span (n − 1)/62.5 s; other rates sample that same span.
        count = n if config.fps == INTERNAL_FPS else int(math.floor((n - 1) / INTERNAL_FPS * config.fps + 1e-9)) + 1
        sequence = LandmarkSequence(
            landmarks=resample(pixels, config.fps, count),
            fps=config.fps,
            audio_seconds=feats.seconds,
            image_size=image_size,
            weights=self.weights_name,
            compat="original",
            seed=config.seed,
        )
        return AnimationResult(
            sequence=sequence,
            mel_norm=mel_norm,
            delta_speaker_raw=np.concatenate(delta_speaker),
            delta_content_raw=delta_content,
            landmarks_normalized=landmarks,
            pixels=pixels,
            blink_frames=[t for t in blinks if t - RAMP_BEFORE >= 0 and t + RAMP_AFTER < n],
        )

    def _run_default(self, feats: Any, face: Any, config: AnimationConfig, image_size, report) -> AnimationResult:
        num_windows = int(np.asarray(feats.mel).shape[0])  # one window, one landmark frame per mel frame
        face_id = face.face_id

        def speaker_delta(mel_norm: np.ndarray) -> np.ndarray:
            if config.amp_pos == 0.0:
                # `still` (or pose_scale 0): Δs would be multiplied by zero, so skip the branch.
                return np.zeros((num_windows, 204), dtype=np.float32)
            blocks = speaker_blocks(num_windows, config.block_windows, config.block_overlap)
            outputs = run_speaker_branch(
                self.speaker_branch, torch.from_numpy(pad_for_windows(mel_norm).astype(np.float32)),
                feats.speaker_embedding, blocks, config.speaker_batch_blocks,
                share_audio_encoding=True, window_batch=config.content_batch,
            )
            return crossfade(outputs, [s for s, _ in blocks], num_windows).astype(np.float32)

        def content_delta(content_mel: np.ndarray) -> np.ndarray:
            windows = torch.from_numpy(pad_for_windows(content_mel).astype(np.float32))
            windows = delay_content_windows(windows, int(self.tuning.get("content_delay_frames", 0)))
            return run_content_branch(self.content_branch, windows, face_id, num_windows, config.content_batch)

        def voice_and_speaker() -> tuple[np.ndarray, np.ndarray]:
            mel_norm = self._mel_norm(feats, False, config)  # as long as the mel (convert_voice)
            return mel_norm, speaker_delta(mel_norm)

        if not self.uses_voice:
            # The set runs neither AutoVC nor the speaker branch (its head motion is procedural).
            mel_norm = normalize_mel(feats.mel)
            delta_content = content_delta(mel_norm)
            delta_speaker = np.zeros((num_windows, 204), dtype=np.float32)
            report(SHARE_AFTER_CONTENT)
        elif self.tuning.get("content_features", "converted") == "source":
            # Trained on the speaker's own mel (no voice conversion) for the lips, so the content
            # branch needs nothing from AutoVC: the two LSTM chains run side by side, one thread
            # each (each step's small GEMMs leave a core idle). 30 s clip, 2-core CPU: 1.48-1.65 s
            # one after the other, 1.23-1.48 s side by side, with identical outputs.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="makeittalk-speaker-branch") as pool:
                speaker_job = pool.submit(voice_and_speaker)
                delta_content = content_delta(normalize_mel(feats.mel))
                mel_norm, delta_speaker = speaker_job.result()
            report(SHARE_AFTER_CONTENT)
        else:
            mel_norm = self._mel_norm(feats, False, config)
            report(SHARE_AFTER_AUTOVC)
            delta_content = content_delta(mel_norm)
            report(SHARE_AFTER_CONTENT)
            delta_speaker = speaker_delta(mel_norm)
        # Whole-clip smoothing and calibration: no per-segment restarts, so no seams.
        amp_pos = config.amp_pos * self.tuning.get("amp_pos", pp.DEFAULT_AMP_POS) / pp.DEFAULT_AMP_POS
        amp_lip = config.amp_lip * self.tuning.get("amp_lip", pp.DEFAULT_AMP_LIP) / pp.DEFAULT_AMP_LIP
        from makeittalk.animation.spectrum_gains import LIP_GAIN, from_tuning, spectrum_features

        spectrum = functools.lru_cache(maxsize=1)(lambda: spectrum_features(feats.mel))
        lip_model = from_tuning(self.tuning, LIP_GAIN)
        if lip_model is not None:
            amp_lip = amp_lip * float(lip_model.gains(spectrum())[0])
        smoothed = pp.smooth_speaker_delta(delta_speaker)
        if self.tuning.get("rigid_pose", False):
            shaped = pp.rigid_speaker_delta(smoothed, face_id)
        else:
            shaped = pp.close_speaker_mouth(smoothed)
        ds_post = pp.scale_pose(shaped, amp_pos)
        procedural_gain = float(self.tuning.get("procedural_pose", 0.0)) * config.amp_pos / pp.DEFAULT_AMP_POS
        if procedural_gain > 0:
            from makeittalk.animation.head_motion import HeadMotionStyle, procedural_pose, rigid_delta
            from makeittalk.animation.spectrum_gains import HEAD_SIZE, pose_multipliers

            loudness = np.asarray(feats.mel, dtype=np.float64).mean(axis=1)[:num_windows]
            style = HeadMotionStyle.from_settings(self.tuning.get("procedural_style"))
            pose = procedural_pose(num_windows, loudness, seed=config.seed, style=style)
            size_model = from_tuning(self.tuning, HEAD_SIZE)
            if size_model is not None:
                pose = pose * pose_multipliers(size_model.gains(spectrum()))
            ds_post = ds_post + rigid_delta(face_id, pose * procedural_gain)
        calibrated = pp.calibrate_content(delta_content) if self.tuning.get("calibrate_content", True) else delta_content
        dc_post = pp.amplify_lips(calibrated, amp_lip, amp_lip)
        fixed, _ = pp.fix_inverse_lips(pp.combine(ds_post, dc_post, face_id))
        # The original's %.6f text round trip is a file-format artefact; the default keeps full precision.
        landmarks = pp.smooth_landmarks(pp.fix_nose_top(fixed), 5)
        pixels = pp.denormalize(landmarks, face.scale, face.shift)
        blinks = (
            blink_schedule(pixels.shape[0], rate_per_minute=config.blink_rate, seed=config.seed)
            if config.blink
            else []
        )
        pixels = pp.final_smoothing(pp.add_eyes(pixels, blinks))
        count = frame_count(feats.seconds, config.fps)
        sequence = LandmarkSequence(
            landmarks=resample(pixels, config.fps, count),
            fps=config.fps,
            audio_seconds=feats.seconds,
            image_size=image_size,
            weights=self.weights_name,
            compat=None,
            seed=config.seed,
        )
        return AnimationResult(
            sequence=sequence,
            mel_norm=mel_norm,
            delta_speaker_raw=delta_speaker,
            delta_content_raw=delta_content,
            landmarks_normalized=np.asarray(landmarks),
            pixels=pixels,
            blink_frames=list(blinks),
        )


# --------------------------------------------------------------------------------------------
# helpers


def _as_static_face(face: Any, tweaks: bool = True) -> Any:
    """A StaticFace as is; pixel landmarks get the original's tweaks (unless `tweaks` is False),
    then normalisation."""
    if hasattr(face, "face_id") and hasattr(face, "scale") and hasattr(face, "shift"):
        return face
    from makeittalk.face import StaticFace, apply_original_tweaks

    points = np.asarray(face, dtype=np.float64)
    return StaticFace.from_landmarks(apply_original_tweaks(points) if tweaks else points)


def _weights_display_name(weights: Any) -> str:
    """The weight set's own name ('default' resolves to the set it stands for)."""
    try:
        from makeittalk.weights.store import resolve_network_dir

        folder, weight_set = resolve_network_dir("content_branch", weights)
    except (ImportError, MakeItTalkError):
        return str(weights)
    if weight_set is not None:
        return weight_set.name
    return folder.parent.name if folder.name == "content_branch" else folder.name


def _missing_message(weights: Any, missing: list[str], problems: list[str]) -> str:
    head = f"the weight set {str(weights)!r} lacks {', '.join(missing)}, which landmark prediction needs"
    detail = problems[0] if problems else ""
    if "import-original" in detail:
        return f"{head}: {detail}"
    if str(weights) == "default":
        fix = (
            "This installation's default weights are missing or incomplete (a broken install, or "
            "MAKEITTALK_PRETRAINED pointing elsewhere): 'makeittalk weights verify' checks them and reinstalling "
            "makeittalk restores them. Or put"
        )
    else:
        fix = (
            "Leave out --weights to use the installation's default weights ('makeittalk weights list' shows "
            "every set; if the defaults are missing, 'makeittalk weights verify' checks them and reinstalling "
            "makeittalk restores them), or put"
        )
    return (
        f"{head}{': ' + detail if detail else ''}. {fix} the original MakeItTalk checkpoints (ckpt_autovc.pth, "
        f"ckpt_content_branch.pth, ckpt_speaker_branch.pth) in a folder, run "
        f"'makeittalk weights import-original DIR --name original' and pass --weights original"
    )
