"""Headless OpenGL contexts for the warp renderer.

The renderer never opens a window: it asks moderngl for a standalone context through EGL,
which works without a display on Linux servers (Mesa llvmpipe on CPUs, the vendor driver on
GPUs). Where EGL is missing (macOS, some desktops) moderngl's default backend is tried next.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence
from importlib import resources

from makeittalk.errors import MakeItTalkError

# The renderer needs GLSL 3.30 (core profile); every Mesa since 2013 and every GPU driver has it.
REQUIRED_GL_VERSION = 330

# Backends tried in order. None is moderngl's platform default (GLX/X11 on Linux, CGL on
# macOS, WGL on Windows). MAKEITTALK_GL_BACKEND=egl|default|... forces a single backend.
DEFAULT_BACKENDS: tuple[str | None, ...] = ("egl", None)

INSTALL_HINT = (
    "install the Mesa EGL/OpenGL drivers (Debian/Ubuntu: "
    "'apt-get install libegl1 libgl1-mesa-dri libegl-mesa0'; "
    "Fedora: 'dnf install mesa-libEGL mesa-dri-drivers')"
)


class RendererUnavailableError(MakeItTalkError):
    """No OpenGL context could be created for the warp renderer."""


def _backend_label(backend: str | None) -> str:
    return backend if backend is not None else "default"


def create_context(backends: Sequence[str | None] | None = None):
    """Create a standalone (windowless) moderngl context.

    Tries EGL first, then the platform default; raises RendererUnavailableError naming the
    system packages to install when no backend gives a usable OpenGL 3.3 context.
    """
    import moderngl

    if backends is None:
        forced = os.environ.get("MAKEITTALK_GL_BACKEND", "").strip()
        if forced:
            backends = (None if forced == "default" else forced,)
        else:
            backends = DEFAULT_BACKENDS
    failures: list[str] = []
    for backend in backends:
        kwargs = {"require": REQUIRED_GL_VERSION}
        if backend is not None:
            kwargs["backend"] = backend
        try:
            ctx = moderngl.create_standalone_context(**kwargs)
        except Exception as exc:  # glcontext raises bare Exception/ValueError per backend
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            failures.append(f"{_backend_label(backend)}: {message}")
            continue
        return ctx
    tried = "; ".join(failures) if failures else "no backend was tried"
    raise RendererUnavailableError(
        f"cannot create a headless OpenGL {REQUIRED_GL_VERSION // 100}.{REQUIRED_GL_VERSION % 100 // 10} "
        f"context for the warp renderer ({tried}); {INSTALL_HINT}"
    )


def describe_context(ctx) -> str:
    """One line naming the GL implementation, for logs and benchmark reports."""
    info = ctx.info
    return f"{info.get('GL_RENDERER', '?')} / {info.get('GL_VERSION', '?')}"


def is_software_renderer(ctx) -> bool:
    """True for CPU rasterisers (Mesa llvmpipe/softpipe, SwiftShader), where every extra
    sample costs CPU time."""
    name = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(word in name for word in ("llvmpipe", "softpipe", "swrast", "swiftshader", "software"))


def load_shader(name: str, defines: dict[str, object] | None = None) -> str:
    """Read a shader source shipped in renderer/shaders, expanding `#include "file"` lines
    and adding `#define NAME value` lines after `#version`.

    GLSL has no include mechanism; the polygon distance helpers are shared by the mouth and
    eyelid passes, so the loader splices them in rather than duplicating them in two files.
    Defines turn per-renderer constants (the supersampling factor) into compile-time ones:
    software rasterisers run loops with uniform bounds several times slower.
    """
    try:
        folder = resources.files("renderer").joinpath("shaders")
    except (NotADirectoryError, TypeError, ModuleNotFoundError):
        # A stale editable install can register `renderer` as a namespace package, which
        # importlib.resources cannot read; the files sit next to this module either way.
        folder = Path(__file__).resolve().parent / "shaders"
    text = folder.joinpath(name).read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#include"):
            included = stripped.split(None, 1)[1].strip().strip('"<>')
            lines.append(folder.joinpath(included).read_text(encoding="utf-8"))
        else:
            lines.append(line)
        if stripped.startswith("#version"):
            lines.extend(f"#define {key} {value}" for key, value in (defines or {}).items())
    return "\n".join(lines) + "\n"
