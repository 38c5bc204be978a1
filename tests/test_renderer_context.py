"""Headless OpenGL context creation and the error users see when it is impossible."""

from __future__ import annotations

import pytest

from makeittalk.errors import MakeItTalkError
from renderer.context import RendererUnavailableError, create_context, describe_context, load_shader


def test_default_context_is_headless_gl33():
    ctx = create_context()
    try:
        assert ctx.version_code >= 330
        assert describe_context(ctx)
    finally:
        ctx.release()


def test_no_usable_backend_names_the_packages_to_install():
    with pytest.raises(RendererUnavailableError) as info:
        create_context(backends=("no-such-backend", "another-missing-one"))
    message = str(info.value)
    assert isinstance(info.value, MakeItTalkError)
    assert "\n" not in message
    assert "no-such-backend" in message and "another-missing-one" in message
    for package in ("libegl1", "libgl1-mesa-dri", "libegl-mesa0"):
        assert package in message


def test_environment_variable_forces_a_backend(monkeypatch):
    monkeypatch.setenv("MAKEITTALK_GL_BACKEND", "no-such-backend")
    with pytest.raises(RendererUnavailableError, match="no-such-backend"):
        create_context()


def test_shader_includes_are_expanded():
    source = load_shader("mouth.frag")
    assert "#include" not in source
    assert "float polygon_sd(" in source
    assert source.startswith("#version 330")
