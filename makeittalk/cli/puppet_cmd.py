"""`makeittalk puppet`: create, import, preview and check warp-renderer puppets."""

from __future__ import annotations

import argparse

from makeittalk.cli.common import add_command, eprint
from makeittalk.errors import MakeItTalkError


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "puppet",
        summary="Create and inspect warp-renderer puppets from an image.",
        description="""
        Create and inspect warp-renderer puppets from an image.

        A puppet is a folder holding the image, its 68 rest landmarks, the triangle mesh the
        warp renderer deforms, the original's scale/shift and a puppet.json description. The
        warp renderer animates any portrait (photo, painting, statue, cartoon) without a
        trained image network.""",
        examples=[
            "makeittalk puppet create face.jpg -o puppets/face",
            "makeittalk puppet create cartoon.png -o puppets/toon --landmarks toon_landmarks.txt --style cartoon",
            "makeittalk puppet import examples_cartoon --name wilk -o puppets/wilk",
            "makeittalk puppet show puppets/toon -o toon_preview.png --poses",
            "makeittalk puppet check puppets/toon",
        ],
    )
    actions = parser.add_subparsers(dest="puppet_action", metavar="ACTION")

    create = add_command(
        actions,
        "create",
        summary="make a puppet folder from an image",
        description="Detect (or read) the 68 landmarks of IMAGE and write a puppet folder.",
        examples=[
            "makeittalk puppet create face.jpg -o puppets/face",
            "makeittalk puppet create toon.png -o puppets/toon --landmarks toon.json",
        ],
        notes="""Landmarks files: JSON (a list of 68 [x, y] points, or {"landmarks": [...]}) or
        text with 68 lines 'x y', in pixels of IMAGE, iBUG-68 order.""",
    )
    create.add_argument("image", metavar="IMAGE", help="portrait or cartoon image (PNG keeps transparency)")
    create.add_argument("-o", "--output", metavar="PUPPET_DIR", required=True, help="puppet folder to write")
    create.add_argument("--landmarks", metavar="FILE",
                        help="68 landmarks (JSON, 68 lines 'x y' or .npy); skips face detection")
    create.add_argument("--style", choices=("auto", "photo", "cartoon"), default="auto",
                        help="mouth and eyelid rendering style (default: guessed from the image)")
    create.add_argument("--name", help="puppet name (default: the image file name)")
    create.add_argument("--detector", default="auto", help="face detector: auto, face-alignment or dlib")
    create.add_argument("--overwrite", action="store_true", help="replace an existing puppet folder")
    create.set_defaults(func=_create)

    imp = add_command(
        actions,
        "import",
        summary="import a puppet in the original MakeItTalk cartoon format",
        description=(
            "Import the original MakeItTalk puppet NAME from ORIGINAL_DIR (the layout of its "
            "examples_cartoon folder) into a puppet folder: NAME.png or NAME.jpg, "
            "NAME_face_open_mouth.txt, NAME_face_close_mouth.txt, NAME_scale_shift.txt, "
            "NAME_delauney_tri.txt and the optional background NAME_bg.*. Files some shipped "
            "puppets lack (scale/shift, an empty open-mouth annotation, the closed-mouth file, the "
            "triangulation) are derived from the others, and each derivation is reported."
        ),
        examples=[
            "makeittalk puppet import MakeItTalk/examples_cartoon --name wilk -o puppets/wilk",
            "makeittalk puppet import old_puppets --name sketch -o puppets/sketch --mesh rebuild",
        ],
        notes="""--mesh original (default) keeps the puppet's own triangulation (landmarks + 12 points on
        the image frame); --mesh rebuild adds forehead and hair anchors that follow the head.""",
    )
    imp.add_argument("folder", metavar="ORIGINAL_DIR", help="folder with the original puppet files")
    imp.add_argument("--name", help="puppet name: the files' common prefix (default: the only puppet in the folder)")
    imp.add_argument("-o", "--output", metavar="PUPPET_DIR", required=True, help="puppet folder to write")
    imp.add_argument("--style", choices=("auto", "photo", "cartoon"), default="auto",
                     help="mouth and eyelid rendering style (default: guessed from the image)")
    imp.add_argument("--mesh", choices=("original", "rebuild"), default="original",
                     help="the puppet's own triangulation (default) or a rebuilt anchored mesh")
    imp.add_argument("--overwrite", action="store_true", help="replace an existing puppet folder")
    imp.set_defaults(func=_import)

    show = add_command(
        actions,
        "show",
        summary="draw a puppet's mesh and landmarks over its image",
        description="Write a preview image of a puppet: landmarks, anchors and mesh over the image, "
                    "optionally followed by rendered test poses.",
        examples=["makeittalk puppet show puppets/toon -o preview.png --poses"],
    )
    show.add_argument("puppet", metavar="PUPPET_DIR")
    show.add_argument("-o", "--output", metavar="PNG", required=True, help="preview image to write")
    show.add_argument("--no-mesh", action="store_true", help="draw only the landmarks")
    show.add_argument("--poses", action="store_true",
                      help="add rendered test poses: rest, open mouth, wide open, blink, head turn")
    show.set_defaults(func=_show)

    check = add_command(
        actions,
        "check",
        summary="validate a puppet folder (files, mesh, a test render)",
        description="Check that a puppet folder is complete and animates: files, mesh edges, "
                    "and (unless --no-render) that rendering its rest pose reproduces the image.",
        examples=["makeittalk puppet check puppets/toon"],
    )
    check.add_argument("puppet", metavar="PUPPET_DIR")
    check.add_argument("--no-render", action="store_true", help="skip the test render (no OpenGL needed)")
    check.set_defaults(func=_check)

    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _create(args: argparse.Namespace) -> int:
    from pathlib import Path

    from renderer.puppet import Puppet, PuppetError

    output = Path(args.output)
    if output.exists() and not args.overwrite and not (output.is_dir() and not any(output.iterdir())):
        raise PuppetError(f"{output} already exists; pass --overwrite to replace it")
    if not Path(args.image).exists():
        raise MakeItTalkError(f"{args.image}: image not found; check the path")
    puppet = Puppet.create(args.image, args.landmarks, style=args.style, name=args.name, detector=args.detector)
    puppet.save(output, overwrite=args.overwrite)
    origin = puppet.source.get("detector") or f"file {puppet.source.get('landmarks_file', '')}".strip()
    w, h = puppet.size
    print(f"wrote puppet '{puppet.name}' to {output} ({w}x{h}, style {puppet.style}, landmarks from {origin}, "
          f"{puppet.mesh.num_vertices} vertices, {len(puppet.mesh.triangles)} triangles)")
    for problem in puppet.problems():
        eprint(f"warning: {problem}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from renderer.original import import_original_puppet
    from renderer.puppet import PuppetError

    output = Path(args.output)
    if output.exists() and not args.overwrite and not (output.is_dir() and not any(output.iterdir())):
        raise PuppetError(f"{output} already exists; pass --overwrite to replace it")
    puppet, report = import_original_puppet(args.folder, args.name, style=args.style, mesh=args.mesh)
    puppet.save(output, overwrite=args.overwrite)
    w, h = puppet.size
    roles = ("image", "background", "open_mouth", "open_mouth_norm", "close_mouth", "scale_shift", "triangles")
    used = ", ".join(report.files[key] for key in roles if key in report.files)
    print(f"imported original puppet '{puppet.name}' to {output} ({w}x{h}, style {puppet.style}, "
          f"{puppet.mesh.num_vertices} vertices, {len(puppet.mesh.triangles)} triangles, mesh {puppet.mesh.source})")
    print(f"  read: {used}")
    for note in report.derived:
        print(f"  derived: {note}")
    for warning in report.warnings:
        eprint(f"warning: {warning}")
    for problem in puppet.problems():
        eprint(f"warning: {problem}")
    return 0


def _pose_strip(puppet, height: int):
    """Rendered test poses side by side (rest, open, wide, blink, turn), each `height` tall."""
    import numpy as np
    from PIL import Image

    from renderer.synthetic import close_eyes, move_head, open_mouth

    rest = puppet.landmarks
    face_w = float(np.hypot(*(rest[16, :2] - rest[0, :2])))
    poses = [rest, open_mouth(rest, 0.15), open_mouth(rest, 0.35), close_eyes(rest, 1.0),
             move_head(rest, dx=0.06 * face_w, angle_deg=8.0)]
    # Show the head, not the whole picture: a square about twice the face's size.
    centre = rest[:, :2].min(0) / 2 + rest[:, :2].max(0) / 2
    half = 1.0 * max(np.ptp(rest[:, 0]), np.ptp(rest[:, 1]))
    w, h = puppet.size
    box = (int(max(0, centre[0] - half)), int(max(0, centre[1] - 1.2 * half)),
           int(min(w, centre[0] + half)), int(min(h, centre[1] + 0.8 * half)))
    frames = []
    with puppet.renderer(background="white") as renderer:
        for landmarks in poses:
            frame = Image.fromarray(renderer.render(landmarks), "RGBA").crop(box)
            width = max(1, int(round(frame.width * height / frame.height)))
            frames.append(frame.resize((width, height), Image.Resampling.LANCZOS))
    strip = Image.new("RGBA", (sum(f.width for f in frames), height), (255, 255, 255, 255))
    x = 0
    for frame in frames:
        strip.paste(frame, (x, 0))
        x += frame.width
    return strip


def _show(args: argparse.Namespace) -> int:
    from pathlib import Path

    from PIL import Image

    from makeittalk.fileio import atomic_output
    from renderer.puppet import Puppet

    puppet = Puppet.load(args.puppet)
    preview = Image.fromarray(puppet.preview(mesh=not args.no_mesh), "RGBA")
    if args.poses:
        strip = _pose_strip(puppet, height=max(64, preview.height // 3))
        scale = preview.width / strip.width
        if scale < 1:
            strip = strip.resize((preview.width, max(1, int(strip.height * scale))), Image.Resampling.LANCZOS)
        sheet = Image.new("RGBA", (max(preview.width, strip.width), preview.height + strip.height), (255, 255, 255, 255))
        sheet.paste(preview, (0, 0))
        sheet.paste(strip, (0, preview.height))
        preview = sheet
    output = Path(args.output)
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise MakeItTalkError(f"{output}: use a .png, .jpg or .webp file name for the preview")
    output.parent.mkdir(parents=True, exist_ok=True)
    image = preview if output.suffix.lower() in (".png", ".webp") else preview.convert("RGB")
    # A preview is re-drawn as the puppet is edited, so an existing one is replaced.
    with atomic_output(output, overwrite=True) as partial:
        image.save(partial, format=Image.registered_extensions()[output.suffix.lower()])
    print(f"wrote {output} ({image.width}x{image.height})")
    return 0


def _check(args: argparse.Namespace) -> int:
    import numpy as np

    from renderer.puppet import Puppet, PuppetError

    puppet = Puppet.load(args.puppet)
    problems = puppet.problems()
    if not args.no_render and not problems:
        with puppet.renderer(background=None) as renderer:
            frame = renderer.render(puppet.landmarks).astype(np.int16)
        # The renderer returns premultiplied alpha; compare against the premultiplied image.
        alpha = puppet.image[..., 3:4].astype(np.float64) / 255.0
        expected = np.round(puppet.image[..., :3] * alpha)
        error = float(np.abs(frame[..., :3] - expected).mean())
        if error > 2.0:
            problems.append(f"the rest pose renders {error:.1f}/255 away from the image (expected < 2)")
    if problems:
        raise PuppetError(f"{args.puppet}: " + "; ".join(problems))
    w, h = puppet.size
    print(f"{args.puppet}: OK ('{puppet.name}', {w}x{h}, style {puppet.style}, "
          f"{puppet.mesh.num_vertices} vertices, {len(puppet.mesh.triangles)} triangles)")
    return 0
