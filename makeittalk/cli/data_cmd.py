"""`makeittalk data`: features and landmarks from the user's own files; dataset preparation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from makeittalk.cli.common import add_command, eprint


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "data",
        summary="Extract audio features and face landmarks; prepare training datasets.",
        description="""
        Inspect what the networks see: the audio front end (mel, F0, speaker embeddings) of a
        recording, and the 68 face landmarks of a portrait; 'data prepare' builds a training
        dataset from a folder of videos and recordings.""",
        examples=[
            "makeittalk data features speech.mp3 -o speech_features.npz",
            "makeittalk data face portrait.jpg -o portrait_landmarks.json",
            "makeittalk data prepare my_videos/ -o my_dataset/ --workers 4",
        ],
    )
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION", required=True)

    features = add_command(
        actions, "features", summary="mel, F0 and speaker embeddings of a recording, as .npz",
        description="Run the audio front end on AUDIO (wav, flac, ogg, mp3, m4a or a video's audio "
                    "track) and save mel (T,80), f0_onehot (T,257), f0_bins, speaker_embedding, "
                    "autovc_source_embedding and the loudness-normalised samples.",
        examples=["makeittalk data features speech.mp3 -o speech_features.npz"],
    )
    features.add_argument("audio", type=Path)
    features.add_argument("-o", "--output", type=Path, required=True, help="output .npz file")
    features.add_argument("--device", default=None, help="auto, cpu, cuda or mps (speaker encoder)")
    features.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    features.set_defaults(func=run_features)

    face = add_command(
        actions, "face", summary="68 face landmarks of a portrait, as JSON",
        description="Detect the face in IMAGE and save its 68 landmarks (x right, y down, in image "
                    "pixels), which detector found them, and the normalised static face the "
                    "networks use.",
        examples=["makeittalk data face portrait.jpg -o portrait_landmarks.json"],
    )
    face.add_argument("image", type=Path)
    face.add_argument("-o", "--output", type=Path, required=True, help="output .json file")
    face.add_argument("--detector", choices=["auto", "dlib", "face-alignment"], default="auto")
    face.add_argument("--face-alignment-weights", type=Path, default=None, metavar="DIR",
                      help="folder holding face-alignment's weight files (default: torch hub cache)")
    face.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    face.set_defaults(func=run_face)

    prepare = add_command(
        actions, "prepare", summary="build a training dataset from videos and recordings",
        description="Turn the videos (with 68-point landmarks for every frame, resampled to the mel "
                    "rate of 62.5 fps), mouth-keypoint segments and speech recordings under INPUT into "
                    "a training dataset: DATASET_DIR/dataset.json, clips.jsonl and clips/<id>.npz "
                    "(mel, F0 bins, speaker embeddings, landmarks and masks). Already prepared clips "
                    "are skipped, so an interrupted run can be resumed; inputs that fail are "
                    "reported and skipped. The input folder is never written to.",
        examples=["makeittalk data prepare my_videos/ -o my_dataset/ --workers 4",
                  "makeittalk data prepare recordings/ -o speech_set/ --speakers speakers.csv",
                  "makeittalk data prepare grid/ -o grid_set/ --val-last 50"],
    )
    prepare.add_argument("input", type=Path, metavar="VIDEOS_OR_AUDIO_DIR")
    prepare.add_argument("-o", "--output", type=Path, required=True, metavar="DATASET_DIR",
                         help="dataset folder (created; reused to resume)")
    prepare.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    prepare.add_argument("--overwrite", action="store_true", help="prepare clips again even if present")
    prepare.add_argument("--speakers", type=Path, default=None, metavar="CSV",
                         help="CSV with 'clip' and 'speaker' columns (overrides the folder layout "
                              "and the dataset's own utterances.tsv / index.tsv)")
    prepare.add_argument("--val-fraction", type=float, default=0.1,
                         help="share of speakers (by hash of the speaker id) in the val split (default 0.1)")
    prepare.add_argument("--val-speakers", metavar="SPEAKER", nargs="+",
                         help="hold out exactly these speaker ids for validation (overrides --val-fraction)")
    prepare.add_argument("--val-last", type=int, default=0, metavar="N",
                         help="also hold out the last N clips in sorted id order (with --val-speakers or "
                              "alone: then every other clip trains)")
    prepare.add_argument("--merge-speakers", metavar="OLD=NEW", nargs="+", default=[],
                         help="relabel speaker OLD as NEW before splitting (e.g. two clusters of one person)")
    prepare.add_argument("--augment", type=int, default=0, metavar="N",
                         help="also write N augmented copies of every training talking/lips clip (gain, "
                              "noise, reverb, pitch, tempo, AAC round trip; see makeittalk.datasets.augment)")
    prepare.add_argument("--detector", choices=["auto", "dlib", "face-alignment"], default="auto",
                         help="face detector for videos without a <clip>.landmarks.npz")
    prepare.add_argument("--device", default="cpu", help="device for the speaker encoder (default cpu)")
    prepare.set_defaults(func=run_prepare)


def run_features(args: argparse.Namespace) -> int:
    import numpy as np

    from makeittalk.audio import SpeakerEncoder, extract_features, load_audio
    from makeittalk.fileio import atomic_output, check_output_path

    check_output_path(args.output, overwrite=args.overwrite, suffixes=(".npz",))
    waveform = load_audio(args.audio)
    features = extract_features(waveform, SpeakerEncoder(device=args.device))
    with atomic_output(args.output, overwrite=args.overwrite, suffixes=(".npz",)) as partial:
        with open(partial, "wb") as stream:
            np.savez_compressed(
                stream,
                mel=features.mel, f0_onehot=features.f0_onehot, f0_bins=features.f0_bins,
                speaker_embedding=features.speaker_embedding,
                autovc_source_embedding=features.autovc_source_embedding,
                normalized_samples=features.normalized_samples,
                seconds=np.float64(features.seconds), frame_rate=np.float64(62.5),
            )
    eprint(f"{args.audio}: {features.seconds:.2f} s, {features.num_frames} frames at 62.5 fps, "
           f"{int(features.f0_bins.astype(bool).sum())} voiced -> {args.output}")
    if not features.speech_detected:
        eprint("note: no speech was detected; the speaker embedding is Resemblyzer's silence vector")
    return 0


def run_face(args: argparse.Namespace) -> int:
    from makeittalk.face import StaticFace, detect_landmarks, load_image
    from makeittalk.fileio import atomic_output, check_output_path

    check_output_path(args.output, overwrite=args.overwrite, suffixes=(".json",))
    image = load_image(args.image)
    detection = detect_landmarks(image, detector=args.detector, weights_dir=args.face_alignment_weights)
    static = StaticFace.from_landmarks(detection.landmarks)
    document = {
        "image": str(args.image),
        "image_size": [int(image.shape[1]), int(image.shape[0])],
        "detector": detection.detector,
        "num_faces": detection.num_faces,
        "box": [float(v) for v in detection.box],
        "landmarks": [[round(float(v), 4) for v in point] for point in detection.landmarks],
        "z_source": detection.z_source,
        "normalized": {"q": static.q.round(8).tolist(), "scale": static.scale, "shift": static.shift.tolist()},
        "warnings": detection.warnings,
    }
    with atomic_output(args.output, overwrite=args.overwrite, suffixes=(".json",)) as partial:
        partial.write_text(json.dumps(document, indent=1) + "\n")
    for warning in detection.warnings:
        eprint(f"warning: {warning}")
    eprint(f"{args.image}: {detection.detector} found {detection.num_faces} face(s) -> {args.output}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from makeittalk.datasets import prepare_dataset

    if not 0.0 <= args.val_fraction <= 1.0:
        eprint("error: --val-fraction must lie between 0 and 1")
        return 2
    merges = {}
    for item in args.merge_speakers:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            eprint(f"error: --merge-speakers takes OLD=NEW pairs, got {item!r}")
            return 2
        merges[old] = new
    report = prepare_dataset(args.input, args.output, workers=args.workers, overwrite=args.overwrite,
                             speakers_csv=args.speakers, val_fraction=args.val_fraction,
                             val_speakers=args.val_speakers, val_last=args.val_last, augment=args.augment, merge_speakers=merges, device=args.device, detector=args.detector, log=eprint)
    eprint(f"prepared {len(report.prepared)}, already there {len(report.skipped_existing)}, "
           f"failed {len(report.failed)}; {report.total_clips} clip(s) in {args.output} "
           f"({report.seconds:.1f} s)")
    for source, reason in report.failed:
        eprint(f"  failed: {source}: {reason}")
    return 0 if report.ok else 1
