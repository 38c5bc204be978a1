#version 330
// An eye in the current frame. Inside its outline the source is sampled rigidly (mapped by
// the eye corners back to the rest pose) instead of squashed by the mesh, so a closing lid
// covers the iris rather than flattening it. As the eye shuts, the lid comes down as opaque
// skin: inside the outline everything above a lid edge that sweeps from the upper lid line
// (u_lid_alpha 0) to the lower one (1) is lid-coloured, with the lash line on that edge. A
// cross-fade would show the eye white through a half-transparent lid, which reads as a white
// fill. Beyond the outline a slightly larger fill fades in to hide eye-white slivers at the
// corners. Photos get a soft fill shaded from the upper-lid skin tone to the lower-lid one;
// cartoons a flat fill with crisp edges.
#include "polygon.glsl"

uniform sampler2D u_source;
uniform vec2 u_src_size;
uniform float u_lod_bias;     // log2(texture size / source size): the texture may be pre-scaled
uniform vec2 u_poly[8];       // current eye ring; its first four points are the upper lid
uniform vec2 u_rest_poly[8];
uniform vec2 u_map_a;         // current pixel z -> rest pixel a*z + b (complex numbers)
uniform vec2 u_map_b;
uniform float u_lid_alpha;
uniform vec3 u_lid_color;
uniform vec3 u_lower_lid_color;
uniform int u_flat;
uniform vec3 u_lash_color;
uniform float u_dilate;
uniform float u_lash_width;

in vec2 v_pix;
out vec4 f_color;

vec2 cmul(vec2 a, vec2 b) {
    return vec2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

void main() {
    float aa = max(length(fwidth(v_pix)) * 0.7071, 1e-4);
    // Explicit level of detail: implicit derivatives are undefined after a discard.
    float lod = log2(max(aa * length(u_map_a), 1e-4)) + u_lod_bias;
    float sd = polygon_sd(v_pix, u_poly, 6);
    float cover = coverage(sd, aa);
    float lash_d = polyline_distance(v_pix, u_poly, 4);
    vec2 axis = normalize(u_poly[3] - u_poly[0] + vec2(1e-6, 0.0));
    vec2 lower_lid[8] = vec2[8](u_poly[0], u_poly[5], u_poly[4], u_poly[3],
                                vec2(0.0), vec2(0.0), vec2(0.0), vec2(0.0));
    float below_upper = polyline_offset(v_pix, u_poly, 4, axis);
    float above_lower = -polyline_offset(v_pix, lower_lid, 4, axis);
    // Signed pixel distance above the sweeping lid edge (positive: covered by the lid).
    float edge_sd = u_lid_alpha * max(below_upper + above_lower, 0.0) - below_upper;
    float wipe = coverage(edge_sd, aa) * step(1e-4, u_lid_alpha);
    float ring;
    vec3 lid_color = u_lid_color;
    float lash_aa = aa;
    if (u_flat == 1) {
        ring = coverage(sd + u_dilate, aa);
    } else {
        ring = smoothstep(-u_dilate - 0.5 * aa, 0.5 * aa, sd);
        // Below the closed lid line the skin is the lower lid's.
        float below = below_upper - u_lid_alpha * max(below_upper + above_lower, 0.0);
        lid_color = mix(u_lid_color, u_lower_lid_color, smoothstep(0.0, 2.0 * u_lash_width + aa, below));
        lash_aa = max(aa, 0.5 * u_lash_width);
    }
    float fill = mix(ring * step(1e-4, u_lid_alpha), wipe, cover);
    // The lashes ride on the lid edge; where the lids have met (no opening left) on the lid line.
    if (below_upper + above_lower > 0.0) lash_d = min(lash_d / max(1.0 - u_lid_alpha, 1e-3), abs(edge_sd));
    float lash = coverage(0.5 * u_lash_width - lash_d, lash_aa) * u_lid_alpha;
    if (max(cover, max(fill, lash)) <= 0.0) discard;

    vec2 rest = cmul(u_map_a, v_pix) + u_map_b;
    // Outside the rest outline (an eye opened wider than at rest) the mesh result stays.
    float inside_rest = coverage(polygon_sd(rest, u_rest_poly, 6), aa);
    vec4 eye = textureLod(u_source, (rest + 0.5) / u_src_size, lod) * (inside_rest * cover);
    vec4 c = eye * (1.0 - fill) + vec4(lid_color, 1.0) * fill;
    c = c * (1.0 - lash) + vec4(u_lash_color, 1.0) * lash;
    f_color = c;
}
