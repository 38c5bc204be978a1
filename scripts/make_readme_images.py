"""Render the README's illustration: the warp renderer animating the project's drawn cartoon.

The motion is renderer/synthetic.py's scripted talking motion (mouth opening, a blink, a head
turn), not network output: the project's own trained weights are not available yet.

    python scripts/make_readme_images.py            # writes docs/images/cartoon_warp.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from renderer import RenderConfig, WarpRenderer
from renderer.synthetic import close_eyes, draw_cartoon_face, move_head, open_mouth

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "cartoon_warp.png"


def main() -> None:
    cartoon = draw_cartoon_face(size=256)
    rest = cartoon.landmarks
    poses = [
        ("rest", rest),
        ("talking", open_mouth(rest, 0.15)),
        ("wide open", open_mouth(rest, 0.3)),
        ("blink", close_eyes(open_mouth(rest, 0.05), 1.0)),
        ("head turn", move_head(open_mouth(rest, 0.12), dx=6, angle_deg=8)),
    ]
    with WarpRenderer(cartoon.image, rest, config=RenderConfig(style="cartoon"), background=(235, 242, 250)) as warp:
        frames = [np.asarray(warp.render(landmarks))[:, :, :3] for _, landmarks in poses]
    strip = np.concatenate(frames, axis=1)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(OUTPUT, optimize=True)
    print(f"wrote {OUTPUT} ({', '.join(name for name, _ in poses)})")


if __name__ == "__main__":
    main()
