"""Input checks that run before any heavy import or network load.

A user who mistypes a path should hear about it in a second, not after the networks have
loaded and the audio has been analysed; and when several inputs are wrong, about all of them
at once. Only what is cheap is checked here (paths, file sizes, the weight set's name):
decoding errors still surface when the file is read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from makeittalk.errors import ImageError, MakeItTalkError

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def check_portrait_path(path: Path) -> None:
    """ImageError unless `path` is a non-empty image file or a puppet folder."""
    if path.is_dir():
        if not (path / "puppet.json").is_file():
            raise ImageError(
                f"{path} is a folder but not a puppet folder (no puppet.json); pass an image file, or make "
                f"a puppet with 'makeittalk puppet create IMAGE -o {path}'"
            )
        return
    from makeittalk.face.image import check_image_path

    check_image_path(path)


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def looks_like_image_path(value: Any) -> bool:
    """Whether a --background value names an image file (else it is a colour)."""
    return _is_path(value) and (Path(value).suffix.lower() in _IMAGE_SUFFIXES or Path(value).is_file())


def check_weights(weights: str | os.PathLike) -> None:
    """WeightsError unless `weights` names an installed set or an existing folder."""
    from makeittalk.weights import store

    if store._is_set_name(weights):
        store.get_weight_set(str(weights))
    elif not Path(weights).is_dir():
        raise MakeItTalkError(
            f"weights folder {weights} does not exist; pass a weight-set name ('makeittalk weights list') or a folder"
        )


def check_inputs(
    *,
    portrait: Any = None,
    audio: Any = None,
    face_landmarks: Any = None,
    background: Any = None,
    weights: Any = None,
) -> None:
    """Every given input path (and the weight set) in one pass: one error naming each bad one.

    Values that are not paths (arrays, Waveforms, colours) are left to the loaders.
    """
    from makeittalk.audio.io import check_audio_path
    from makeittalk.face.detect import check_landmarks_path
    from makeittalk.face.image import check_image_path

    checks = []
    if _is_path(portrait):
        checks.append(("portrait", check_portrait_path, Path(portrait)))
    if _is_path(audio):
        checks.append(("audio", check_audio_path, Path(audio)))
    if _is_path(face_landmarks):
        checks.append(("face landmarks", check_landmarks_path, Path(face_landmarks)))
    if looks_like_image_path(background):
        checks.append(("background", check_image_path, Path(background)))
    if weights is not None:
        checks.append(("weights", check_weights, weights))
    problems: list[tuple[str, MakeItTalkError]] = []
    for label, check, value in checks:
        try:
            check(value)
        except MakeItTalkError as exc:
            problems.append((label, exc))
    if len(problems) == 1:
        raise problems[0][1]
    if problems:
        # Each message already says what to do; the label says which input it is about.
        parts = [str(exc) if label in str(exc).lower() or "weight set" in str(exc) else f"{label} {exc}"
                 for label, exc in problems]
        raise MakeItTalkError(f"{len(problems)} inputs need fixing: " + "; ".join(parts))
