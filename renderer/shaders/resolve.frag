#version 330
// Box-filters the supersampled scene down to the output size, composites it over the
// background in linear light and encodes sRGB (straight or premultiplied alpha).
// SS (the supersampling factor) is #defined by the loader so the loops unroll.
#ifndef SS
#define SS 1
#endif
uniform sampler2D u_scene;
uniform int u_bg_mode;        // 0 none, 1 colour, 2 image
uniform vec4 u_bg_color;      // linear, premultiplied
uniform sampler2D u_bg;       // linear, premultiplied
uniform vec2 u_out_size;
uniform int u_premultiplied;

out vec4 f_color;

vec3 encode_srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    vec3 lo = c * 12.92;
    vec3 hi = 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055;
    return mix(hi, lo, vec3(lessThanEqual(c, vec3(0.0031308))));
}

void main() {
    ivec2 base = ivec2(gl_FragCoord.xy) * SS;
    vec4 sum = vec4(0.0);
    for (int y = 0; y < SS; y++) {
        for (int x = 0; x < SS; x++) {
            sum += texelFetch(u_scene, base + ivec2(x, y), 0);
        }
    }
    vec4 c = sum / float(SS * SS);
    if (u_bg_mode == 1) {
        c += u_bg_color * (1.0 - c.a);
    } else if (u_bg_mode == 2) {
        c += texture(u_bg, gl_FragCoord.xy / u_out_size) * (1.0 - c.a);
    }
    float a = clamp(c.a, 0.0, 1.0);
    vec3 straight = a > 0.0 ? c.rgb / a : vec3(0.0);
    vec3 srgb = encode_srgb(straight);
    f_color = vec4(u_premultiplied == 1 ? srgb * a : srgb, a);
}
