"""The landmark editor: 68 draggable points over the portrait, in a `gr.HTML` component.

The component's value is a dict:

    {"image": data URL of a display copy, "width": W, "height": H,
     "points": [[x, y] * 68] in pixels of the portrait, "edited": bool}

The browser draws an SVG (viewBox = the portrait's pixels, so the points need no scaling),
lets the user drag points with the mouse, pen or finger, writes the new points back into the
value and fires the custom event "edited"; Python sets the value to show new landmarks.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

DISPLAY_SIDE = 640  # the display copy's longest side (the points stay in full-size pixels)

HTML_TEMPLATE = """
<div class="mit-editor">
  <div class="mit-editor-canvas"></div>
  <div class="mit-editor-help">Drag a point to move it. Jaw white, brows orange, nose yellow,
  eyes blue, lips pink.</div>
</div>
"""

CSS_TEMPLATE = """
.mit-editor { width: 100%; }
.mit-editor-canvas { width: 100%; display: flex; justify-content: center;
  background: repeating-conic-gradient(#e6e6e6 0% 25%, #cfcfcf 0% 50%) 50% / 20px 20px;
  border-radius: 8px; min-height: 120px; }
.mit-editor-svg { width: 100%; max-height: 420px; touch-action: none; user-select: none; display: block; }
.mit-editor-svg circle.mit-point { cursor: grab; }
.mit-editor-svg circle.mit-point:hover { stroke: #000; }
.mit-editor-svg.mit-dragging circle.mit-point { cursor: grabbing; }
.mit-editor-empty { padding: 40px 16px; color: #555; text-align: center; font-size: 0.95em; }
.mit-editor-help { font-size: 0.85em; color: var(--body-text-color-subdued, #666); margin-top: 4px; }
"""

JS_ON_LOAD = r"""
const NS = 'http://www.w3.org/2000/svg';
const CHAINS = [[0, 16, false], [17, 21, false], [22, 26, false], [27, 35, false],
                [36, 41, true], [42, 47, true], [48, 59, true], [60, 67, true]];
const COLOUR = (i) => i < 17 ? '#ffffff' : i < 27 ? '#ff8c00' : i < 36 ? '#ffe600'
                    : i < 48 ? '#4682ff' : '#ff3ca0';
let points = [];
let circles = [];
let lines = [];
let dragging = null;

function make(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function chainPoints(chain) {
  const [a, b, closed] = chain;
  const idx = [];
  for (let i = a; i <= b; i++) idx.push(i);
  if (closed) idx.push(a);
  return idx.map((i) => points[i][0] + ',' + points[i][1]).join(' ');
}

function refresh(index) {
  if (index !== undefined) {
    circles[index].setAttribute('cx', points[index][0]);
    circles[index].setAttribute('cy', points[index][1]);
  }
  CHAINS.forEach((chain, k) => lines[k].setAttribute('points', chainPoints(chain)));
}

function draw() {
  const host = element.querySelector('.mit-editor-canvas');
  if (!host) return;
  host.innerHTML = '';
  const v = props.value;
  if (!v || typeof v !== 'object' || !Array.isArray(v.points) || v.points.length !== 68) {
    host.innerHTML = '<div class="mit-editor-empty">Upload a portrait or pick an example: ' +
                     'its 68 face landmarks appear here.</div>';
    points = [];
    return;
  }
  points = v.points.map((p) => [Number(p[0]), Number(p[1])]);
  const w = Number(v.width), h = Number(v.height);
  const svg = make('svg', {viewBox: `0 0 ${w} ${h}`, class: 'mit-editor-svg',
                           role: 'img', 'aria-label': 'face landmarks over the portrait'});
  svg.appendChild(make('image', {href: v.image, x: 0, y: 0, width: w, height: h,
                                 preserveAspectRatio: 'none'}));
  const r = Math.max(2, Math.max(w, h) / 120);
  lines = CHAINS.map(() => {
    const line = make('polyline', {fill: 'none', stroke: 'rgba(255,255,255,0.8)',
                                   'stroke-width': r / 2.5, 'pointer-events': 'none'});
    svg.appendChild(line);
    return line;
  });
  circles = points.map((p, i) => {
    const c = make('circle', {cx: p[0], cy: p[1], r: r, fill: COLOUR(i), stroke: '#333',
                              'stroke-width': r / 3, class: 'mit-point', 'data-index': i});
    const title = make('title', {});
    title.textContent = 'point ' + i;
    c.appendChild(title);
    svg.appendChild(c);
    return c;
  });
  refresh();
  const toImage = (event) => {
    const m = svg.getScreenCTM();
    if (!m) return null;
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(m.inverse());
    return [Math.min(Math.max(p.x, 0), w - 1), Math.min(Math.max(p.y, 0), h - 1)];
  };
  svg.addEventListener('pointerdown', (event) => {
    const target = event.target.closest ? event.target.closest('circle.mit-point') : null;
    if (!target) return;
    dragging = Number(target.getAttribute('data-index'));
    svg.classList.add('mit-dragging');
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  svg.addEventListener('pointermove', (event) => {
    if (dragging === null) return;
    const p = toImage(event);
    if (!p) return;
    points[dragging] = p;
    refresh(dragging);
  });
  const finish = () => {
    if (dragging === null) return;
    dragging = null;
    svg.classList.remove('mit-dragging');
    const rounded = points.map((p) => [Math.round(p[0] * 100) / 100, Math.round(p[1] * 100) / 100]);
    props.value = Object.assign({}, props.value, {points: rounded, edited: true});
    trigger('edited');
  };
  svg.addEventListener('pointerup', finish);
  svg.addEventListener('pointercancel', finish);
  host.appendChild(svg);
}

draw();
watch('value', draw);
"""


def data_url(rgba: np.ndarray, side: int = DISPLAY_SIDE) -> str:
    """A small PNG (transparent images) or JPEG (opaque ones) of the portrait as a data URL."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    scale = min(1.0, side / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if (np.asarray(image)[..., 3] < 255).any():
        image.save(buffer, "PNG", optimize=True)
        mime = "image/png"
    else:
        image.convert("RGB").save(buffer, "JPEG", quality=88)
        mime = "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def editor_value(rgba: np.ndarray, points: np.ndarray, *, edited: bool = False) -> dict[str, Any]:
    h, w = rgba.shape[:2]
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    return {
        "image": data_url(rgba),
        "width": int(w),
        "height": int(h),
        "points": [[round(float(x), 2), round(float(y), 2)] for x, y in xy],
        "edited": bool(edited),
    }


def editor_points(value: Any) -> np.ndarray | None:
    """The (68, 2) points of an editor value, or None when it holds none."""
    if not isinstance(value, dict):
        return None
    pts = value.get("points")
    try:
        array = np.asarray(pts, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.shape != (68, 2) or not np.all(np.isfinite(array)):
        return None
    return array


def editor_size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, dict) and "width" in value and "height" in value:
        return int(value["width"]), int(value["height"])
    return None
