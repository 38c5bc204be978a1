"""Headless GLSL warp renderer: animate any portrait from 68-point landmarks.

A Delaunay triangle mesh over the face landmarks plus anchor and border points is warped
frame by frame on the GPU (or Mesa llvmpipe on CPUs, through EGL), with a mouth cavity and
teeth drawn inside the inner lips and eyelids that close over the eyes. See `WarpRenderer`,
`RenderConfig` and `Puppet`; `import_original_puppet` reads the original MakeItTalk cartoon
puppet files.
"""

from renderer.context import RendererUnavailableError, create_context, describe_context
from renderer.mesh import Mesh, MeshConfig
from renderer.mouth import EyelidConfig, MouthConfig
from renderer.original import import_original_puppet
from renderer.puppet import Puppet, PuppetError, guess_style
from renderer.warp import RenderConfig, RenderStyle, WarpRenderer, parse_color

__all__ = [
    "EyelidConfig",
    "Mesh",
    "MeshConfig",
    "MouthConfig",
    "Puppet",
    "PuppetError",
    "RenderConfig",
    "RenderStyle",
    "RendererUnavailableError",
    "WarpRenderer",
    "create_context",
    "describe_context",
    "guess_style",
    "import_original_puppet",
    "parse_color",
]
