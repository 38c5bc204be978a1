"""Training datasets: `prepare_dataset` turns raw speech / talking-face / mouth-keypoint material
into the on-disk format described in `makeittalk.datasets.prepare`."""

from makeittalk.datasets.prepare import (
    DATASET_FORMAT,
    DATASET_VERSION,
    FRAME_RATE,
    PrepareReport,
    interpolate_landmarks,
    prepare_dataset,
    split_for_speaker,
)

__all__ = [
    "DATASET_FORMAT",
    "DATASET_VERSION",
    "FRAME_RATE",
    "PrepareReport",
    "interpolate_landmarks",
    "prepare_dataset",
    "split_for_speaker",
]
