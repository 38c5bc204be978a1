#version 330
// Mouth interior inside the inner-lip polygon. Works in source pixels and in a local mouth
// frame: u along the corner-to-corner axis, v across it (towards the chin).
//
// Layers, back to front: a dark cavity (shaded and soft-edged for photos, flat for
// cartoons), a tongue (photos), synthetic upper teeth when the mouth opens wide, and, when
// the rest pose already shows the mouth interior (teeth in a smile), that interior split in
// two: its upper half stays attached to the upper lip and its lower half to the lower lip,
// so real teeth move with the lips and the cavity opens between them.
#include "polygon.glsl"

uniform sampler2D u_source;
uniform vec2 u_src_size;
uniform float u_lod_bias;     // log2(texture size / source size): the texture may be pre-scaled
uniform vec2 u_poly[8];
uniform vec2 u_origin;
uniform vec2 u_axis;
uniform float u_width;
uniform vec2 u_upper[5];
uniform vec2 u_lower[5];
uniform vec2 u_rest_origin;
uniform vec2 u_rest_axis;
uniform float u_rest_width;
uniform vec2 u_rest_upper[5];
uniform vec2 u_rest_lower[5];
uniform int u_keep_rest;
uniform float u_cavity_alpha;
uniform float u_teeth_alpha;
uniform float u_teeth_height;
uniform float u_feather;
uniform vec3 u_cavity_edge;
uniform vec3 u_cavity_deep;
uniform vec3 u_teeth_color;
uniform vec3 u_tongue_color;
uniform int u_flat;
uniform int u_tongue;

in vec2 v_pix;
out vec4 f_color;

float polyline_v(vec2 pts[5], float u) {
    if (u <= pts[0].x) return pts[0].y;
    for (int i = 1; i < 5; i++) {
        if (u <= pts[i].x) {
            float t = (u - pts[i - 1].x) / max(pts[i].x - pts[i - 1].x, 1e-6);
            return mix(pts[i - 1].y, pts[i].y, t);
        }
    }
    return pts[4].y;
}

void main() {
    // One render pixel measured in source pixels: keeps edges one pixel soft at any scale.
    float aa = max(length(fwidth(v_pix)) * 0.7071, 1e-4);
    float lod = log2(max(aa, 1e-4)) + u_lod_bias;
    float sd = polygon_sd(v_pix, u_poly, 8);

    vec2 d = v_pix - u_origin;
    vec2 across = vec2(-u_axis.y, u_axis.x);
    vec2 loc = vec2(dot(d, u_axis), dot(d, across));
    float vu = polyline_v(u_upper, loc.x);
    float vl = polyline_v(u_lower, loc.x);
    float gap = max(vl - vu, 1e-3);
    float s = clamp(loc.x / max(u_width, 1e-3), 0.0, 1.0);
    float t = clamp((loc.y - vu) / gap, 0.0, 1.0);

    vec3 col;
    float edge;
    if (u_flat == 1) {
        col = u_cavity_edge;
        edge = coverage(sd, aa);
    } else {
        // Darker towards the middle: the back of the mouth gets little light.
        float depth = smoothstep(0.0, max(2.5 * u_feather, aa), sd);
        col = mix(u_cavity_edge, u_cavity_deep, depth);
        if (u_tongue == 1) {
            vec2 q = vec2((s - 0.5) / 0.34, (t - 1.1) / 0.6);
            float tongue = 1.0 - smoothstep(0.8, 1.0, length(q));
            col = mix(col, u_tongue_color, 0.85 * tongue);
        }
        edge = smoothstep(-0.5 * aa, max(u_feather, aa), sd);
    }

    if (u_teeth_alpha > 0.0) {
        float below = loc.y - vu;
        float side_px = min(loc.x, u_width - loc.x);
        vec3 tc = u_teeth_color;
        float band;
        float side;
        if (u_flat == 1) {
            band = coverage(u_teeth_height - below, aa);
            side = coverage(side_px - 0.12 * u_width, aa);
        } else {
            band = 1.0 - smoothstep(u_teeth_height - 1.5 * aa, u_teeth_height + 0.5 * aa, below);
            side = smoothstep(0.04 * u_width, 0.16 * u_width, side_px);
            // Gaps between the incisors, shade towards the corners and the biting edge.
            float c = abs(loc.x - 0.5 * u_width) / max(u_width, 1e-3);
            float g = min(min(c, abs(c - 0.1)), min(abs(c - 0.185), abs(c - 0.26)));
            float line_w = max(0.005 * u_width, aa);
            tc *= mix(0.82, 1.0, smoothstep(0.0, line_w, g));
            tc *= mix(0.6, 1.0, smoothstep(0.42, 0.2, c));
            tc *= mix(1.0, 0.88, smoothstep(0.5 * u_teeth_height, u_teeth_height, below));
        }
        col = mix(col, tc, band * side * u_teeth_alpha);
    }

    float alpha = edge * u_cavity_alpha;
    vec4 result = vec4(col * alpha, alpha);

    if (u_keep_rest == 1) {
        float u0 = s * u_rest_width;
        float vu0 = polyline_v(u_rest_upper, u0);
        float vl0 = polyline_v(u_rest_lower, u0);
        float g0 = max(vl0 - vu0, 0.0);
        float top = loc.y - vu;
        float bottom = vl - loc.y;
        float v0;
        float keep;
        if (gap <= g0) {  // opened less than at rest here: squeeze the rest interior
            v0 = vu0 + t * g0;
            keep = 1.0;
        } else if (top < bottom) {
            v0 = vu0 + top;
            keep = coverage(0.5 * g0 - top, 1.5 * aa);
        } else {
            v0 = vl0 - bottom;
            keep = coverage(0.5 * g0 - bottom, 1.5 * aa);
        }
        vec2 rest_across = vec2(-u_rest_axis.y, u_rest_axis.x);
        vec2 rp = u_rest_origin + u_rest_axis * u0 + rest_across * v0;
        vec4 tex = textureLod(u_source, (rp + 0.5) / u_src_size, lod);
        keep *= coverage(sd, aa);
        result = mix(result, tex, keep);
    }
    if (result.a <= 0.0) discard;
    f_color = result;
}
