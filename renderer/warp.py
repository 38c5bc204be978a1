"""WarpRenderer: a portrait animated by 68 landmarks through a Delaunay triangle warp.

GL resources (source texture with mipmaps, mesh buffers, render targets, shader programs) are
created once; each frame only uploads the vertex positions (a few hundred floats) and a few
uniforms, draws four passes and reads the pixels back:

1. the warped mesh into a linear-light, premultiplied RGBA16F target (optionally MSAA and/or
   supersampled), sampling the mip-mapped source texture with trilinear filtering;
2. the eyes (rigidly re-sampled inside the current eye outlines, lid fill as they close);
3. the mouth cavity and teeth inside the inner-lip polygon;
4. a resolve pass: box-filter down to the output size, composite over the background, encode
   sRGB into an RGBA8 target that is read back.

All blending happens in linear light on premultiplied colours; only the final pass encodes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from renderer.context import create_context, is_software_renderer, load_shader
from renderer.mesh import LEFT_EYE, NUM_LANDMARKS, RIGHT_EYE, Mesh, MeshConfig
from renderer.mouth import (
    EyelidConfig,
    FaceColors,
    MouthColors,
    MouthConfig,
    MouthRest,
    estimate_face_colors,
    eye_opening,
    eye_state,
    mouth_state,
    srgb_to_linear,
)


class RenderStyle(str, enum.Enum):
    """Photo: soft-edged, shaded mouth interior. Cartoon: flat colours, crisp edges."""

    PHOTO = "photo"
    CARTOON = "cartoon"


@dataclass(frozen=True)
class RenderConfig:
    """Options of a WarpRenderer."""

    style: RenderStyle | str = RenderStyle.PHOTO
    # Anti-aliasing. The mouth and eye overlays anti-alias their own edges analytically and
    # the mesh's inner edges need none; MSAA adds clean edges where the mesh folds over
    # itself. None picks 4 samples on GPUs and none on software rasterisers (llvmpipe), where
    # MSAA halves the frame rate. Each pixel is shaded once either way, so a rest frame
    # samples the texture exactly at texel centres.
    samples: int | None = None
    # Supersampling factor per axis, box-filtered down: also smooths texture minification
    # but slightly blurs a still image and costs supersample² fragments.
    supersample: int = 1
    # Alpha convention of the output where it is not opaque (a transparent cartoon with no
    # background): premultiplied means RGB = sRGB(straight colour) x alpha, as compositors and
    # PIL's "RGBa" mode expect; False gives straight (unassociated) alpha.
    premultiplied: bool = True
    mouth: MouthConfig = field(default_factory=MouthConfig)
    eyelids: EyelidConfig = field(default_factory=EyelidConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "style", RenderStyle(self.style))
        if not 1 <= int(self.supersample) <= 4:
            raise ValueError(f"supersample must be 1..4, got {self.supersample}")
        if self.samples is not None and int(self.samples) not in (0, 1, 2, 4, 8, 16):
            raise ValueError(f"samples must be None, 0, 1, 2, 4, 8 or 16, got {self.samples}")


# None, a colour ('#rrggbb[aa]', a name, an RGB(A) tuple) or an image (path, PIL, array).
Background = Any

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")

# sRGB (0..1) -> linear lookup for 8-bit values: texture uploads convert through it.
_SRGB_LUT = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)


def _to_rgba8(image: Any) -> np.ndarray:
    """An RGBA uint8 array from a path, PIL image or (H, W[, 3|4]) array."""
    if isinstance(image, (str, Path)):
        from PIL import Image

        with Image.open(image) as pil:
            return np.asarray(pil.convert("RGBA")).copy()
    if hasattr(image, "convert") and hasattr(image, "size"):
        return np.asarray(image.convert("RGBA")).copy()
    arr = np.asarray(image)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(arr.max()) <= 1.0:
            arr = np.round(arr * 255.0)
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) image, got shape {arr.shape}")
    if arr.shape[2] == 3:
        arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return np.ascontiguousarray(arr)


def _linear_premultiplied(rgba8: np.ndarray) -> np.ndarray:
    """float16 linear-light premultiplied RGBA, the texture format every pass samples."""
    out = _SRGB_LUT[rgba8]
    alpha = rgba8[..., 3:4].astype(np.float32) / 255.0
    out[..., :3] *= alpha
    out[..., 3:4] = alpha
    return out.astype(np.float16)


def parse_color(color: str | tuple) -> tuple[int, int, int, int]:
    """'#rrggbb[aa]', 'white'/'black'/'transparent' or an (r, g, b[, a]) tuple of 0..255."""
    if isinstance(color, str):
        named = {"white": "#ffffff", "black": "#000000", "transparent": "#00000000",
                 "green": "#00ff00", "blue": "#0000ff"}
        text = named.get(color.strip().lower(), color.strip()).lstrip("#")
        if len(text) not in (6, 8) or any(ch not in "0123456789abcdefABCDEF" for ch in text):
            raise ValueError(f"cannot read colour {color!r}: use #rrggbb or #rrggbbaa")
        values = [int(text[i:i + 2], 16) for i in range(0, len(text), 2)]
    else:
        values = [int(round(float(v))) for v in color]
    if len(values) == 3:
        values.append(255)
    if len(values) != 4 or any(not 0 <= v <= 255 for v in values):
        raise ValueError(f"colour must have 3 or 4 components in 0..255, got {color!r}")
    return tuple(values)  # type: ignore[return-value]


class WarpRenderer:
    """Renders frames of a portrait from 68-point landmark frames (source-image pixels).

    `image` is a path, PIL image or (H, W[, 3|4]) array; `rest_landmarks` its (68, 2|3)
    landmarks in pixels (x right, y down). `size` (width, height) scales the output (default:
    the source size); `background` is None, a colour or an image; `ctx` shares a moderngl
    context between renderers (default: a new headless one, released with the renderer).

        with WarpRenderer(image, rest_landmarks, config=RenderConfig(style="cartoon")) as r:
            for frame in r.render_sequence(landmark_frames):
                writer.write(frame)  # (H, W, 4) uint8 RGBA
    """

    def __init__(
        self,
        image: Any,
        rest_landmarks: np.ndarray,
        *,
        config: RenderConfig | None = None,
        size: tuple[int, int] | None = None,
        background: Background = None,
        mesh: Mesh | None = None,
        colors: FaceColors | None = None,
        ctx=None,
    ) -> None:
        self.config = config or RenderConfig()
        self.image = _to_rgba8(image)
        self.source_size = (int(self.image.shape[1]), int(self.image.shape[0]))
        rest = np.asarray(rest_landmarks, dtype=np.float64)
        if rest.shape[0] != NUM_LANDMARKS or rest.ndim != 2 or rest.shape[1] < 2:
            raise ValueError(f"rest landmarks must be (68, 2) or (68, 3), got {rest.shape}")
        if not np.isfinite(rest[:, :2]).all():
            raise ValueError("rest landmarks contain NaN or infinite values")
        self.rest_landmarks = rest[:, :2].copy()
        self.mesh = mesh if mesh is not None else Mesh.build(self.rest_landmarks, self.source_size,
                                                             self.config.mesh)
        if tuple(self.mesh.image_size) != self.source_size:
            raise ValueError(f"mesh was built for {self.mesh.image_size}, image is {self.source_size}")
        self.output_size = (int(size[0]), int(size[1])) if size is not None else self.source_size
        if min(self.output_size) < 1:
            raise ValueError(f"output size must be positive, got {self.output_size}")

        flat = self.config.style == RenderStyle.CARTOON
        self.colors = colors or estimate_face_colors(self.image, self.rest_landmarks)
        self.mouth_colors = MouthColors.derive(self.colors.lip, self.config.mouth, flat)
        lids = self.config.eyelids

        def pick(override, sampled):  # a configured sRGB colour wins over the sampled ones
            if override is None:
                return tuple(sampled)
            return tuple(srgb_to_linear(np.asarray(override[:3]) / 255.0) for _ in sampled)

        self._lid_colors = pick(lids.lid_color, self.colors.lids)
        self._lower_lid_colors = pick(lids.lid_color, self.colors.lower_lids)
        self._lash_colors = pick(lids.lash_color, self.colors.lashes)
        self._mouth_rest = MouthRest.from_landmarks(self.rest_landmarks)
        self._rest_eye_opening = {eye: eye_opening(self.rest_landmarks, eye) for eye in (RIGHT_EYE, LEFT_EYE)}

        self._owns_ctx = ctx is None
        self.ctx = ctx if ctx is not None else create_context()
        self._released = False
        try:
            self._setup_gl()
            self.set_background(background)
        except BaseException:
            self.release()
            raise

    # --- construction helpers ----------------------------------------------------------------

    @classmethod
    def from_puppet(cls, puppet, **kwargs) -> "WarpRenderer":
        """A renderer for a loaded Puppet (its image, rest landmarks, mesh and style)."""
        config = kwargs.pop("config", None) or RenderConfig(style=puppet.style)
        return cls(puppet.image, puppet.landmarks, mesh=puppet.mesh, config=config, **kwargs)

    def _program(self, vertex: str, fragment: str, defines: dict[str, object] | None = None):
        return self.ctx.program(vertex_shader=load_shader(vertex),
                                fragment_shader=load_shader(fragment, defines))

    def _setup_gl(self) -> None:
        import moderngl

        ctx = self.ctx
        w, h = self.source_size
        self._source = ctx.texture((w, h), 4, _linear_premultiplied(self.image).tobytes(), dtype="f2")
        self._source.build_mipmaps()
        self._source.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self._source.repeat_x = False
        self._source.repeat_y = False

        src_size = (float(w), float(h))
        self._warp_prog = self._program("warp.vert", "warp.frag")
        self._warp_prog["u_src_size"].value = src_size
        self._mouth_prog = self._program("overlay.vert", "mouth.frag")
        self._mouth_prog["u_src_size"].value = src_size
        self._eye_prog = self._program("overlay.vert", "eye.frag")
        self._eye_prog["u_src_size"].value = src_size
        self._resolve_prog = self._program("fullscreen.vert", "resolve.frag",
                                           {"SS": int(self.config.supersample)})

        mesh = self.mesh
        uv = ((mesh.rest + 0.5) / np.array(src_size)).astype("f4")
        self._pos_vbo = ctx.buffer(reserve=mesh.num_vertices * 8, dynamic=True)
        self._uv_vbo = ctx.buffer(uv.tobytes())
        self._ibo = ctx.buffer(mesh.triangles.astype("i4").tobytes())
        self._warp_vao = ctx.vertex_array(
            self._warp_prog,
            [(self._pos_vbo, "2f", "in_pos"), (self._uv_vbo, "2f", "in_uv")],
            index_buffer=self._ibo,
            index_element_size=4,
        )
        self._quad_vbo = ctx.buffer(reserve=4 * 8, dynamic=True)
        self._mouth_vao = ctx.vertex_array(self._mouth_prog, [(self._quad_vbo, "2f", "in_pos")])
        self._eye_vao = ctx.vertex_array(self._eye_prog, [(self._quad_vbo, "2f", "in_pos")])
        self._resolve_vao = ctx.vertex_array(self._resolve_prog, [])

        mc = self.mouth_colors
        flat = self.config.style == RenderStyle.CARTOON
        prog = self._mouth_prog
        prog["u_cavity_edge"].value = tuple(map(float, mc.cavity_edge))
        prog["u_cavity_deep"].value = tuple(map(float, mc.cavity_deep))
        prog["u_teeth_color"].value = tuple(map(float, mc.teeth))
        prog["u_tongue_color"].value = tuple(map(float, mc.tongue))
        prog["u_flat"].value = int(flat)
        prog["u_tongue"].value = int(self.config.mouth.tongue and not flat)
        self._eye_prog["u_source"].value = 0
        self._eye_prog["u_flat"].value = int(flat)
        prog["u_source"].value = 0
        rest = self._mouth_rest
        prog["u_rest_origin"].value = tuple(map(float, rest.origin))
        prog["u_rest_axis"].value = tuple(map(float, rest.axis))
        prog["u_rest_width"].value = float(rest.width)
        self._write_points(prog["u_rest_upper"], rest.upper)
        self._write_points(prog["u_rest_lower"], rest.lower)

        ss = int(self.config.supersample)
        ow, oh = self.output_size
        # One render pixel in source pixels: overlay quads are padded by a couple of these so
        # that anti-aliased edges are never clipped, whatever the output scale.
        self._render_px = max(w / (ow * ss), h / (oh * ss))
        self._scene_tex = ctx.texture((ow * ss, oh * ss), 4, dtype="f2")
        self._scene_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._scene_fbo = ctx.framebuffer(color_attachments=[self._scene_tex])
        samples = self.config.samples
        if samples is None:
            samples = 0 if is_software_renderer(ctx) else 4
        samples = min(int(samples), int(ctx.max_samples))
        self.samples = samples
        if samples > 1:
            self._msaa_rb = ctx.renderbuffer((ow * ss, oh * ss), 4, samples=samples, dtype="f2")
            self._draw_fbo = ctx.framebuffer(color_attachments=[self._msaa_rb])
        else:
            self._msaa_rb = None
            self._draw_fbo = self._scene_fbo
        self._out_tex = ctx.texture((ow, oh), 4, dtype="f1")
        self._out_fbo = ctx.framebuffer(color_attachments=[self._out_tex])
        rp = self._resolve_prog
        rp["u_scene"].value = 0
        rp["u_bg"].value = 1
        rp["u_out_size"].value = (float(ow), float(oh))
        rp["u_premultiplied"].value = int(self.config.premultiplied)
        self._bg_tex = None

    # --- background --------------------------------------------------------------------------

    def set_background(self, background: Background) -> None:
        """None (keep transparency), a colour ('#rrggbb', name, tuple) or an image (any size,
        stretched to the output)."""
        import moderngl

        rp = self._resolve_prog
        if self._bg_tex is not None:
            self._bg_tex.release()
            self._bg_tex = None
        if background is None:
            rp["u_bg_mode"].value = 0
            return
        is_path = isinstance(background, Path) or (
            isinstance(background, str)
            and (Path(background).suffix.lower() in _IMAGE_SUFFIXES or Path(background).is_file())
        )
        is_color = isinstance(background, (str, tuple, list)) and not is_path
        if is_color:
            r, g, b, a = parse_color(background)
            lin = srgb_to_linear(np.array([r, g, b]) / 255.0) * (a / 255.0)
            rp["u_bg_mode"].value = 1
            rp["u_bg_color"].value = (float(lin[0]), float(lin[1]), float(lin[2]), a / 255.0)
            return
        rgba = _to_rgba8(background)
        self._bg_tex = self.ctx.texture((rgba.shape[1], rgba.shape[0]), 4,
                                        _linear_premultiplied(rgba).tobytes(), dtype="f2")
        self._bg_tex.build_mipmaps()
        self._bg_tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self._bg_tex.repeat_x = False
        self._bg_tex.repeat_y = False
        rp["u_bg_mode"].value = 2

    # --- rendering ---------------------------------------------------------------------------

    def _write_quad(self, polygon: np.ndarray, pad: float) -> None:
        lo = polygon.min(0) - pad
        hi = polygon.max(0) + pad
        quad = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [lo[0], hi[1]], [hi[0], hi[1]]], "f4")
        self._quad_vbo.write(quad.tobytes())

    @staticmethod
    def _write_points(uniform, points: np.ndarray) -> None:
        # The GLSL compiler may shrink a uniform array to the elements the shader reads
        # (an 8-slot polygon used for a 6-point eye), so size the data by the uniform.
        out = np.zeros((uniform.array_length, 2), "f4")
        n = min(len(points), uniform.array_length)
        out[:n] = points[:n]
        uniform.write(out.tobytes())

    def _draw_eyes(self, landmarks: np.ndarray) -> None:
        import moderngl

        prog = self._eye_prog
        for eye in (RIGHT_EYE, LEFT_EYE):
            state = eye_state(landmarks, self.rest_landmarks, eye, self._rest_eye_opening[eye],
                              self.config.eyelids)
            if state.closure <= 0.0:
                continue  # as open as at rest (or wider): the mesh warp alone is exact
            self._write_points(prog["u_poly"], state.polygon)
            self._write_points(prog["u_rest_poly"], state.rest_polygon)
            prog["u_map_a"].value = (state.map_a.real, state.map_a.imag)
            prog["u_map_b"].value = (state.map_b.real, state.map_b.imag)
            prog["u_lid_alpha"].value = float(state.lid_alpha)
            side = 0 if eye == RIGHT_EYE else 1
            prog["u_lid_color"].value = tuple(map(float, self._lid_colors[side]))
            prog["u_lower_lid_color"].value = tuple(map(float, self._lower_lid_colors[side]))
            prog["u_lash_color"].value = tuple(map(float, self._lash_colors[side]))
            dilate = self.config.eyelids.dilate * state.width * state.lid_alpha
            lash = self.config.eyelids.lash_width * state.width
            prog["u_dilate"].value = float(dilate)
            prog["u_lash_width"].value = float(lash)
            self._write_quad(state.polygon, 2.0 * self._render_px + dilate + lash)
            self._eye_vao.render(moderngl.TRIANGLE_STRIP)

    def _draw_mouth(self, landmarks: np.ndarray) -> None:
        import moderngl

        state = mouth_state(landmarks, self._mouth_rest, self.config.mouth,
                            flat=self.config.style == RenderStyle.CARTOON)
        if state.cavity_alpha <= 0.0 or state.width <= 0.0:
            return
        prog = self._mouth_prog
        self._write_points(prog["u_poly"], state.polygon)
        prog["u_origin"].value = tuple(map(float, state.origin))
        prog["u_axis"].value = tuple(map(float, state.axis))
        prog["u_width"].value = float(state.width)
        self._write_points(prog["u_upper"], state.upper)
        self._write_points(prog["u_lower"], state.lower)
        prog["u_cavity_alpha"].value = float(state.cavity_alpha)
        prog["u_teeth_alpha"].value = float(state.teeth_alpha)
        prog["u_teeth_height"].value = float(state.teeth_height)
        prog["u_feather"].value = float(state.feather)
        prog["u_keep_rest"].value = int(state.keep_rest)
        self._write_quad(state.polygon, 2.0 * self._render_px)
        self._mouth_vao.render(moderngl.TRIANGLE_STRIP)

    def render(self, landmarks: np.ndarray) -> np.ndarray:
        """One frame: (68, 2|3) landmarks in source pixels -> (H, W, 4) uint8 RGBA."""
        import moderngl

        if self._released:
            raise RuntimeError("this WarpRenderer has been released")
        lm = np.asarray(landmarks, dtype=np.float64)
        if lm.ndim != 2 or lm.shape[0] != NUM_LANDMARKS or lm.shape[1] < 2:
            raise ValueError(f"landmarks must be (68, 2) or (68, 3), got {lm.shape}")
        lm = lm[:, :2]
        if not np.isfinite(lm).all():
            raise ValueError("landmarks contain NaN or infinite values")

        ctx = self.ctx
        positions = self.mesh.deform(lm).astype("f4")
        self._pos_vbo.write(positions.tobytes())

        self._draw_fbo.use()
        self._draw_fbo.clear(0.0, 0.0, 0.0, 0.0)
        ctx.disable(moderngl.BLEND | moderngl.CULL_FACE | moderngl.DEPTH_TEST)
        self._source.use(location=0)
        self._warp_vao.render(moderngl.TRIANGLES)

        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA
        if self.config.eyelids.enabled:
            self._draw_eyes(lm)
        if self.config.mouth.enabled:
            self._draw_mouth(lm)
        ctx.disable(moderngl.BLEND)
        if self._draw_fbo is not self._scene_fbo:
            ctx.copy_framebuffer(self._scene_fbo, self._draw_fbo)  # MSAA resolve

        self._out_fbo.use()
        self._scene_tex.use(location=0)
        if self._bg_tex is not None:
            self._bg_tex.use(location=1)
        self._resolve_vao.render(moderngl.TRIANGLES, vertices=3)

        ow, oh = self.output_size
        buffer = bytearray(ow * oh * 4)
        self._out_fbo.read_into(buffer, components=4, alignment=1)
        return np.frombuffer(buffer, dtype=np.uint8).reshape(oh, ow, 4)

    def render_sequence(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Render landmark frames one after the other (GL resources are reused)."""
        for landmarks in frames:
            yield self.render(landmarks)

    # --- lifetime ----------------------------------------------------------------------------

    def release(self) -> None:
        """Free the GL objects (and the context when this renderer created it)."""
        if self._released:
            return
        self._released = True
        for name in ("_warp_vao", "_mouth_vao", "_eye_vao", "_resolve_vao", "_pos_vbo", "_uv_vbo",
                     "_ibo", "_quad_vbo", "_source", "_draw_fbo", "_msaa_rb", "_scene_fbo", "_scene_tex", "_out_fbo",
                     "_out_tex", "_bg_tex", "_warp_prog", "_mouth_prog", "_eye_prog",
                     "_resolve_prog"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.release()
        if self._owns_ctx:
            self.ctx.release()

    def __enter__(self) -> "WarpRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
