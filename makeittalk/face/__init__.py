"""Portrait side of the pipeline: image loading, 68-point landmarks, the static face.

- `load_image(source, mode="RGB")`: any image file, PIL image or array -> uint8 RGB(A).
- `detect_landmarks(image_rgb, detector="auto")` -> `FaceDetection` (68 x 3 pixels).
- `load_landmarks_file(path)`: hand-made landmarks (JSON or 68 lines of `x y`).
- `StaticFace.from_landmarks(pixels)`: the original normalisation and its exact inverse.
- `topology`: part index ranges, the Laplacian neighbour table, drawing segments.
"""

from makeittalk.face.detect import (
    DETECTORS,
    FaceAlignmentWeights,
    FaceDetection,
    FaceDetectionWarning,
    add_standard_z,
    clear_detector_cache,
    detect_landmarks,
    dlib_predictor_path,
    face_alignment_cache_dir,
    face_alignment_weight_names,
    find_face_alignment_weights,
    load_landmarks_file,
    resolve_detector,
)
from makeittalk.face.image import MIN_IMAGE_SIDE, load_image
from makeittalk.face.normalize import (
    CARTOON_Z_SCALE,
    PHOTO_Z_SCALE,
    StaticFace,
    apply_original_tweaks,
    close_mouth,
)
from makeittalk.face.topology import PARTS, LandmarksError, laplacian

__all__ = [
    "CARTOON_Z_SCALE",
    "DETECTORS",
    "MIN_IMAGE_SIDE",
    "PARTS",
    "PHOTO_Z_SCALE",
    "FaceAlignmentWeights",
    "FaceDetection",
    "FaceDetectionWarning",
    "LandmarksError",
    "StaticFace",
    "add_standard_z",
    "apply_original_tweaks",
    "clear_detector_cache",
    "close_mouth",
    "detect_landmarks",
    "dlib_predictor_path",
    "face_alignment_cache_dir",
    "face_alignment_weight_names",
    "find_face_alignment_weights",
    "laplacian",
    "load_image",
    "load_landmarks_file",
    "resolve_detector",
]
