"""scripts/blender_import_arkit.py reads our ARKit CSV as Blender would be given it (the bpy part
runs only inside Blender; its CSV reading and name matching are plain Python)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from makeittalk.exports import arkit, standard_portrait_points, write_export
from makeittalk.animation.export import LandmarkSequence

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "blender_import_arkit.py"


def _script():
    spec = importlib.util.spec_from_file_location("blender_import_arkit", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_blender_script_reads_an_export_and_matches_arkit_shape_keys(tmp_path):
    rest = standard_portrait_points()
    frames = np.stack([rest] * 30)
    frames[10:20, 8, 1] += 20.0  # the chin drops for a third of a second
    sequence = LandmarkSequence(landmarks=frames, fps=30.0, audio_seconds=1.0)
    path = write_export("arkit-csv", sequence, tmp_path / "face.csv", rest=rest)
    script = _script()
    names, rows = script.read_live_link_csv(str(path))
    assert names == list(arkit.HEADER[2:]) and len(rows) == 30
    jaw = [row[names.index("JawOpen")] for row in rows]
    assert max(jaw[:10]) == 0.0 and min(jaw[10:20]) > 0.5
    # Shape keys named in ARKit's camelCase (as Faceit and ReadyPlayerMe name them) are found.
    lookup = script.shape_key_lookup(["Basis", "jawOpen", "eyeBlinkLeft", "mouthSmileLeft"])
    assert lookup["JawOpen".lower()] == "jawOpen" and lookup["EyeBlinkLeft".lower()] == "eyeBlinkLeft"
