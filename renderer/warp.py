"""WarpRenderer: a portrait animated by 68 landmarks through a Delaunay triangle warp.

GL resources (source texture, mesh buffers, render targets, shader programs) are created
once; each frame only uploads the vertex positions (a few hundred floats) and a few uniforms,
draws and reads the pixels back:

1. the background (a clear to its colour, or a copy of the pre-scaled background image);
2. the warped mesh, sampling the source texture: premultiplied linear-light RGBA stored as
   sRGB8 (the sampler decodes before filtering), pre-scaled once to the render size when the
   output is smaller than the source, so that every frame samples it about 1:1 with plain
   bilinear filtering (no per-pixel mip-level selection, which software rasterisers pay for);
3. the eyes (rigidly re-sampled inside the current eye outlines, lid fill as they close);
4. the mouth cavity and teeth inside the inner-lip polygon;
5. only where needed, a resolve pass: box-filter supersampling down to the output size and/or
   encode outputs that may be transparent with straight or premultiplied alpha.

All blending happens in linear light on premultiplied colours. An opaque output without
supersampling (the usual video case) renders into an sRGB8 target that the framebuffer
encodes on write, and is read back directly: no resolve pass. Outputs that may be
transparent render into a half-float target and go through the resolve pass, which keeps
colour precision where alpha is small.
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

GL_SRGB8_ALPHA8 = 0x8C43
GL_FRAMEBUFFER_SRGB = 0x8DB9

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
    """float16 linear-light premultiplied RGBA."""
    return _linear_premultiplied_f32(rgba8).astype(np.float16)


def _linear_premultiplied_f32(rgba8: np.ndarray) -> np.ndarray:
    out = _SRGB_LUT[rgba8]
    alpha = rgba8[..., 3:4].astype(np.float32) / 255.0
    out[..., :3] *= alpha
    out[..., 3:4] = alpha
    return out


def _encode_srgb8(linear_premultiplied: np.ndarray) -> np.ndarray:
    """Linear premultiplied float RGBA -> the bytes of a GL_SRGB8_ALPHA8 texture (RGB
    sRGB-encoded, alpha linear), correctly rounded so that 8-bit sRGB values survive the
    decode/encode round trip exactly."""
    rgb = np.clip(linear_premultiplied[..., :3], 0.0, 1.0).astype(np.float32)
    encoded = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * np.power(rgb, np.float32(1 / 2.4)) - 0.055)
    out = np.empty(linear_premultiplied.shape[:2] + (4,), np.uint8)
    out[..., :3] = np.round(np.clip(encoded, 0.0, 1.0) * 255.0)
    out[..., 3] = np.round(np.clip(linear_premultiplied[..., 3], 0.0, 1.0) * 255.0)
    return out


def _srgb8_premultiplied(rgba8: np.ndarray) -> np.ndarray:
    """sRGB8 texture bytes (premultiplied in linear light) of an RGBA image at its own size:
    opaque pixels keep their bytes, transparent ones become 0, only the rest is re-encoded."""
    out = rgba8.copy()
    alpha = rgba8[..., 3]
    out[alpha == 0] = 0
    partial = (alpha > 0) & (alpha < 255)
    if partial.any():
        out[partial] = _encode_srgb8(_linear_premultiplied_f32(rgba8[partial][None]))[0]
    return out


def _resize_linear(linear: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize linear premultiplied float RGBA to `size` (width, height): an exact area average
    when shrinking (what mip-mapping approximates), bilinear when enlarging."""
    from PIL import Image

    h, w = linear.shape[:2]
    if (w, h) == tuple(size):
        return linear
    shrink = size[0] <= w and size[1] <= h
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(linear[..., c]), "F").resize(size, method))
                for c in range(linear.shape[2])]
    return np.stack(channels, axis=2)


def _texture_pixels(rgba8: np.ndarray, max_size: tuple[int, int]) -> np.ndarray:
    """The source texture's sRGB8 bytes, area-averaged (in linear light) down to at most
    `max_size` per axis: every frame then samples it about 1:1."""
    h, w = rgba8.shape[:2]
    size = (min(w, int(max_size[0])), min(h, int(max_size[1])))
    if size == (w, h):
        return _srgb8_premultiplied(rgba8)
    return _encode_srgb8(_resize_linear(_linear_premultiplied_f32(rgba8), size))


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
        self._lid_colors_f = [tuple(map(float, c)) for c in self._lid_colors]
        self._lower_lid_colors_f = [tuple(map(float, c)) for c in self._lower_lid_colors]
        self._lash_colors_f = [tuple(map(float, c)) for c in self._lash_colors]
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
        """A renderer for a loaded Puppet (its image, rest landmarks, mesh and style; its
        background unless `background` is given, None included)."""
        config = kwargs.pop("config", None) or RenderConfig(style=puppet.style)
        if "background" not in kwargs and getattr(puppet, "background", None) is not None:
            kwargs["background"] = puppet.background
        return cls(puppet.image, puppet.landmarks, mesh=puppet.mesh, config=config, **kwargs)

    def _program(self, vertex: str, fragment: str, defines: dict[str, object] | None = None):
        return self.ctx.program(vertex_shader=load_shader(vertex),
                                fragment_shader=load_shader(fragment, defines))

    def _setup_gl(self) -> None:
        import moderngl

        ctx = self.ctx
        w, h = self.source_size
        ss = int(self.config.supersample)
        ow, oh = self.output_size
        self._render_size = (ow * ss, oh * ss)
        self._software = is_software_renderer(ctx)

        # The source, pre-scaled (area average in linear light) when the render is smaller, so
        # frames sample it about 1:1. GPUs also get mip-maps for faces shrunk further by the
        # motion; software rasterisers pay for per-pixel level selection, so they do without.
        pixels = _texture_pixels(self.image, self._render_size)
        tex_w, tex_h = pixels.shape[1], pixels.shape[0]
        self._source = ctx.texture((tex_w, tex_h), 4, pixels.tobytes(), internal_format=GL_SRGB8_ALPHA8)
        if self._software:
            self._source.filter = (moderngl.LINEAR, moderngl.LINEAR)
        else:
            self._source.build_mipmaps()
            self._source.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self._source.repeat_x = False
        self._source.repeat_y = False
        self._source_opaque = bool((self.image[..., 3] == 255).all())
        lod_bias = float(np.log2(max(tex_w / w, tex_h / h)))

        src_size = (float(w), float(h))
        self._warp_prog = self._program("warp.vert", "warp.frag")
        self._warp_prog["u_src_size"].value = src_size
        self._mouth_prog = self._program("overlay.vert", "mouth.frag")
        self._mouth_prog["u_src_size"].value = src_size
        self._eye_prog = self._program("overlay.vert", "eye.frag")
        self._eye_prog["u_src_size"].value = src_size
        for prog in (self._mouth_prog, self._eye_prog):
            prog["u_lod_bias"].value = lod_bias
        self._bg_prog = self._program("fullscreen.vert", "background.frag")
        self._bg_prog["u_bg"].value = 1

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
        self._bg_vao = ctx.vertex_array(self._bg_prog, [])

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
        # Uniforms written every frame, looked up once.
        self._eye_uniforms = {name: self._eye_prog[name] for name in (
            "u_poly", "u_rest_poly", "u_map_a", "u_map_b", "u_lid_alpha", "u_lid_color",
            "u_lower_lid_color", "u_lash_color", "u_dilate", "u_lash_width")}
        self._mouth_uniforms = {name: self._mouth_prog[name] for name in (
            "u_poly", "u_origin", "u_axis", "u_width", "u_upper", "u_lower", "u_cavity_alpha",
            "u_teeth_alpha", "u_teeth_height", "u_feather", "u_keep_rest")}

        # One render pixel in source pixels: overlay quads are padded by a couple of these so
        # that anti-aliased edges are never clipped, whatever the output scale.
        self._render_px = max(w / (ow * ss), h / (oh * ss))
        samples = self.config.samples
        if samples is None:
            samples = 0 if self._software else 4
        self.samples = min(int(samples), int(ctx.max_samples))
        self._targets_opaque: bool | None = None
        self._bg_tex = None
        self._bg_fbo = None
        self._bg_clear = (0.0, 0.0, 0.0, 0.0)
        self._resolve_prog = None
        self._resolve_vao = None

    def _configure_targets(self, opaque: bool) -> None:
        """(Re)create the render targets for an opaque or a possibly transparent output."""
        if self._targets_opaque is opaque:
            return
        import moderngl

        ctx = self.ctx
        if getattr(self, "_draw_fbo", None) is getattr(self, "_scene_fbo", None):
            self._draw_fbo = None  # the same framebuffer: release it once
        for name in ("_resolve_vao", "_resolve_prog", "_out_fbo", "_out_tex", "_draw_fbo", "_msaa_tex",
                     "_scene_fbo", "_scene_tex"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.release()
            setattr(self, name, None)

        ss = int(self.config.supersample)
        rw, rh = self._render_size
        ow, oh = self.output_size
        # Opaque outputs blend in sRGB8 targets (decoded, blended in linear light and encoded
        # by the framebuffer); possibly transparent ones in half floats, which keep the colour
        # of faint pixels precise for un-premultiplying.
        scene_format = {"internal_format": GL_SRGB8_ALPHA8} if opaque else {"dtype": "f2"}
        self._scene_format = scene_format
        self._scene_tex = ctx.texture((rw, rh), 4, **scene_format)
        self._scene_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._scene_fbo = ctx.framebuffer(color_attachments=[self._scene_tex])
        if self.samples > 1:
            self._msaa_tex = ctx.texture((rw, rh), 4, samples=self.samples, **scene_format)
            self._draw_fbo = ctx.framebuffer(color_attachments=[self._msaa_tex])
        else:
            self._msaa_tex = None
            self._draw_fbo = self._scene_fbo
        if opaque and ss == 1:
            self._out_tex = None
            self._out_fbo = None
            self._read_fbo = self._scene_fbo  # read back directly: no resolve pass
        else:
            self._resolve_prog = self._program("fullscreen.vert", "resolve.frag",
                                               {"SS": ss, "ENCODE": int(not opaque)})
            self._resolve_prog["u_scene"].value = 0
            if not opaque:
                self._resolve_prog["u_premultiplied"].value = int(self.config.premultiplied)
                self._out_tex = ctx.texture((ow, oh), 4)
            else:
                self._out_tex = ctx.texture((ow, oh), 4, internal_format=GL_SRGB8_ALPHA8)
            self._out_fbo = ctx.framebuffer(color_attachments=[self._out_tex])
            self._resolve_vao = ctx.vertex_array(self._resolve_prog, [])
            self._read_fbo = self._out_fbo
        self._targets_opaque = opaque

    # --- background --------------------------------------------------------------------------

    def set_background(self, background: Background) -> None:
        """None (keep transparency), a colour ('#rrggbb', name, tuple) or an image (any size,
        stretched to the output)."""
        if self._bg_fbo is not None:
            self._bg_fbo.release()
            self._bg_fbo = None
        if self._bg_tex is not None:
            self._bg_tex.release()
            self._bg_tex = None
        self._background_kind = "none"
        self._bg_clear = (0.0, 0.0, 0.0, 0.0)
        opaque = False
        if background is not None:
            is_path = isinstance(background, Path) or (
                isinstance(background, str)
                and (Path(background).suffix.lower() in _IMAGE_SUFFIXES or Path(background).is_file())
            )
            is_color = isinstance(background, (str, tuple, list)) and not is_path
            if is_color:
                r, g, b, a = parse_color(background)
                lin = srgb_to_linear(np.array([r, g, b]) / 255.0) * (a / 255.0)
                self._bg_clear = (float(lin[0]), float(lin[1]), float(lin[2]), a / 255.0)
                self._background_kind = "color"
                opaque = a == 255
            else:
                rgba = _to_rgba8(background)
                linear = _resize_linear(_linear_premultiplied_f32(rgba), self._render_size)
                opaque = bool((rgba[..., 3] == 255).all())
                self._background_kind = "image"
                self._bg_image = linear
        # Pixels stay transparent only where neither the image nor the background covers them.
        self._configure_targets(opaque or self._source_opaque)
        if self._background_kind == "image":
            import moderngl

            rw, rh = self._render_size
            if "internal_format" in self._scene_format:
                data = _encode_srgb8(self._bg_image).tobytes()
            else:
                data = self._bg_image.astype(np.float16).tobytes()
            self._bg_tex = self.ctx.texture((rw, rh), 4, data, **self._scene_format)
            self._bg_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._bg_fbo = self.ctx.framebuffer(color_attachments=[self._bg_tex])
            del self._bg_image
        # Blending the warp over the background is only needed where the image has alpha.
        self._blend_warp = self._background_kind != "none" and not self._source_opaque

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

        u = self._eye_uniforms
        for side, eye in enumerate((RIGHT_EYE, LEFT_EYE)):
            state = eye_state(landmarks, self.rest_landmarks, eye, self._rest_eye_opening[eye],
                              self.config.eyelids)
            if state.closure <= 0.0:
                continue  # as open as at rest (or wider): the mesh warp alone is exact
            self._write_points(u["u_poly"], state.polygon)
            self._write_points(u["u_rest_poly"], state.rest_polygon)
            u["u_map_a"].value = (state.map_a.real, state.map_a.imag)
            u["u_map_b"].value = (state.map_b.real, state.map_b.imag)
            u["u_lid_alpha"].value = float(state.lid_alpha)
            u["u_lid_color"].value = self._lid_colors_f[side]
            u["u_lower_lid_color"].value = self._lower_lid_colors_f[side]
            u["u_lash_color"].value = self._lash_colors_f[side]
            dilate = self.config.eyelids.dilate * state.width * state.lid_alpha
            lash = self.config.eyelids.lash_width * state.width
            u["u_dilate"].value = float(dilate)
            u["u_lash_width"].value = float(lash)
            self._write_quad(state.polygon, 2.0 * self._render_px + dilate + lash)
            self._eye_vao.render(moderngl.TRIANGLE_STRIP)

    def _draw_mouth(self, landmarks: np.ndarray) -> None:
        import moderngl

        state = mouth_state(landmarks, self._mouth_rest, self.config.mouth,
                            flat=self.config.style == RenderStyle.CARTOON)
        if state.cavity_alpha <= 0.0 or state.width <= 0.0:
            return
        u = self._mouth_uniforms
        self._write_points(u["u_poly"], state.polygon)
        u["u_origin"].value = (float(state.origin[0]), float(state.origin[1]))
        u["u_axis"].value = (float(state.axis[0]), float(state.axis[1]))
        u["u_width"].value = float(state.width)
        self._write_points(u["u_upper"], state.upper)
        self._write_points(u["u_lower"], state.lower)
        u["u_cavity_alpha"].value = float(state.cavity_alpha)
        u["u_teeth_alpha"].value = float(state.teeth_alpha)
        u["u_teeth_height"].value = float(state.teeth_height)
        u["u_feather"].value = float(state.feather)
        u["u_keep_rest"].value = int(state.keep_rest)
        self._write_quad(state.polygon, 2.0 * self._render_px)
        self._mouth_vao.render(moderngl.TRIANGLE_STRIP)

    def _draw_background(self) -> None:
        import moderngl

        if self._background_kind == "image" and not self._source_opaque:
            if self._draw_fbo is self._scene_fbo:
                # Same format both sides: a plain copy, without sRGB decoding and re-encoding.
                self.ctx.disable_direct(GL_FRAMEBUFFER_SRGB)
                self.ctx.copy_framebuffer(self._draw_fbo, self._bg_fbo)
                self.ctx.enable_direct(GL_FRAMEBUFFER_SRGB)
            else:  # multisampled targets cannot be blitted into
                self._draw_fbo.use()
                self.ctx.disable(moderngl.BLEND)
                self._bg_tex.use(location=1)
                self._bg_vao.render(moderngl.TRIANGLES, vertices=3)
        else:
            self._draw_fbo.clear(*self._bg_clear)

    def render(self, landmarks: np.ndarray, *, channels: int = 4) -> np.ndarray:
        """One frame: (68, 2|3) landmarks in source pixels -> (H, W, 4) uint8 RGBA, or with
        `channels=3` (H, W, 3) RGB (opaque output for a video encoder)."""
        import moderngl

        if channels not in (3, 4):
            raise ValueError(f"channels must be 3 or 4, got {channels}")
        if self._released:
            raise RuntimeError("this WarpRenderer has been released")
        lm = np.asarray(landmarks, dtype=np.float64)
        if lm.ndim != 2 or lm.shape[0] != NUM_LANDMARKS or lm.shape[1] < 2:
            raise ValueError(f"landmarks must be (68, 2) or (68, 3), got {lm.shape}")
        lm = lm[:, :2]
        if not np.isfinite(lm).all():
            raise ValueError("landmarks contain NaN or infinite values")

        ctx = self.ctx
        self._pos_vbo.write(self.mesh.deform(lm).astype("f4").tobytes())

        self._draw_fbo.use()
        # sRGB8 targets encode what is written and decode what is blended; half-float targets
        # ignore the switch. It is context state, so it is switched off again below.
        ctx.enable_direct(GL_FRAMEBUFFER_SRGB)
        try:
            self._draw_background()
            ctx.disable(moderngl.CULL_FACE | moderngl.DEPTH_TEST)
            ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA
            if self._blend_warp:
                ctx.enable(moderngl.BLEND)
            else:
                ctx.disable(moderngl.BLEND)
            self._source.use(location=0)
            self._warp_vao.render(moderngl.TRIANGLES)

            ctx.enable(moderngl.BLEND)
            if self.config.eyelids.enabled:
                self._draw_eyes(lm)
            if self.config.mouth.enabled:
                self._draw_mouth(lm)
            ctx.disable(moderngl.BLEND)
            if self._draw_fbo is not self._scene_fbo:
                ctx.copy_framebuffer(self._scene_fbo, self._draw_fbo)  # MSAA resolve

            if self._resolve_prog is not None:
                self._out_fbo.use()
                self._scene_tex.use(location=0)
                self._resolve_vao.render(moderngl.TRIANGLES, vertices=3)
        finally:
            ctx.disable_direct(GL_FRAMEBUFFER_SRGB)

        ow, oh = self.output_size
        # Reading RGB from GL costs 0.2 ms a 512x512 frame; cutting alpha off an RGBA read
        # and making it contiguous for the encoder cost 0.6-1.0 ms (2-core CI CPU).
        frame = np.empty((oh, ow, channels), dtype=np.uint8)
        self._read_fbo.read_into(frame, components=channels, alignment=1)
        return frame

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
        if getattr(self, "_draw_fbo", None) is getattr(self, "_scene_fbo", None):
            self._draw_fbo = None
        for name in ("_warp_vao", "_mouth_vao", "_eye_vao", "_bg_vao", "_resolve_vao", "_pos_vbo",
                     "_uv_vbo", "_ibo", "_quad_vbo", "_source", "_draw_fbo", "_msaa_tex", "_scene_fbo",
                     "_scene_tex", "_out_fbo", "_out_tex", "_bg_fbo", "_bg_tex", "_warp_prog",
                     "_mouth_prog", "_eye_prog", "_bg_prog", "_resolve_prog"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.release()
        if self._owns_ctx:
            self.ctx.release()

    def __enter__(self) -> "WarpRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
