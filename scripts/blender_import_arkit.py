"""Key a Blender mesh's ARKit shape keys from a Live Link Face CSV (e.g. `makeittalk export
--format arkit-csv`).

In Blender (3.x or 4.x): select the face mesh whose shape keys carry ARKit names (jawOpen,
eyeBlinkLeft, ... in any letter case, as made by Faceit, ARKit-ready characters or
ReadyPlayerMe avatars), open this file in the Text Editor, set CSV_PATH (and FPS if the CSV
was not written at 60 fps) and press Run Script. From a shell:

    blender face.blend --python scripts/blender_import_arkit.py -- face.csv 60

Every blendshape column whose name matches a shape key is keyed on every frame, starting at
the scene's start frame; HeadYaw/HeadPitch/HeadRoll (radians) are keyed on the mesh's parent
armature bone named "head" when there is one. Columns without a shape key are listed, not
guessed. The CSV reading below needs no Blender, so tests check it on real exports.
"""

from __future__ import annotations

import csv
import sys

CSV_PATH = "face.csv"
FPS = 60.0  # the rate the CSV was written at: makeittalk export --format arkit-csv uses 60 unless --fps


def read_live_link_csv(path: str) -> tuple[list[str], list[list[float]]]:
    """(column names after Timecode and BlendShapeCount, one row of floats per frame)."""
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    if not rows or rows[0][:2] != ["Timecode", "BlendShapeCount"]:
        raise ValueError(f"{path} is not a Live Link Face CSV (its header must start Timecode,BlendShapeCount)")
    names = rows[0][2:]
    return names, [[float(v) for v in row[2:]] for row in rows[1:] if row]


def shape_key_lookup(key_names: list[str]) -> dict[str, str]:
    """CSV column (PascalCase) -> the mesh's shape key of the same name in any letter case."""
    return {name.lower(): name for name in key_names}


def key_mesh(obj, path: str, fps: float) -> tuple[int, list[str]]:  # pragma: no cover - runs inside Blender
    import bpy

    names, frames = read_live_link_csv(path)
    scene = bpy.context.scene
    keys = obj.data.shape_keys.key_blocks if obj.data.shape_keys else []
    lookup = shape_key_lookup([k.name for k in keys])
    start = scene.frame_start
    step = scene.render.fps / scene.render.fps_base / fps
    unmatched = []
    for column, name in enumerate(names):
        key_name = lookup.get(name.lower())
        if key_name is None:
            if not name.startswith(("Head", "LeftEye", "RightEye")):
                unmatched.append(name)
            continue
        block = keys[key_name]
        for index, row in enumerate(frames):
            block.value = row[column]
            block.keyframe_insert("value", frame=start + index * step)
    head = None
    if obj.parent is not None and obj.parent.type == "ARMATURE":
        head = obj.parent.pose.bones.get("head")
    if head is not None:
        yaw, pitch, roll = (names.index(n) for n in ("HeadYaw", "HeadPitch", "HeadRoll"))
        head.rotation_mode = "XYZ"
        for index, row in enumerate(frames):
            head.rotation_euler = (row[pitch], row[yaw], row[roll])
            head.keyframe_insert("rotation_euler", frame=start + index * step)
    scene.frame_end = max(scene.frame_end, int(start + len(frames) * step))
    return len(frames), unmatched


def main() -> None:  # pragma: no cover - runs inside Blender
    import bpy

    path, fps = CSV_PATH, FPS
    if "--" in sys.argv:
        extra = sys.argv[sys.argv.index("--") + 1:]
        path = extra[0] if extra else path
        fps = float(extra[1]) if len(extra) > 1 else fps
    obj = bpy.context.active_object
    if obj is None or obj.type != "MESH":
        raise SystemExit("select the face mesh (the one with ARKit shape keys) first")
    count, unmatched = key_mesh(obj, path, fps)
    print(f"keyed {count} frames from {path} on {obj.name}")
    if unmatched:
        print("no shape key for: " + ", ".join(unmatched))


if __name__ == "__main__":  # pragma: no cover
    main()
