#version 330
// Box-filters the (supersampled) scene down to the output size. The scene already holds the
// background; it is linear-light premultiplied RGBA (sRGB8 scenes are decoded by texelFetch).
// ENCODE (#defined by the loader): 1 encodes sRGB here, with straight or premultiplied alpha,
// for outputs that may be transparent; 0 writes linear light to an sRGB8 target, which the
// framebuffer encodes (opaque outputs, where both alpha conventions agree).
// SS (the supersampling factor) is #defined too, so the loops unroll.
#ifndef SS
#define SS 1
#endif
#ifndef ENCODE
#define ENCODE 1
#endif
uniform sampler2D u_scene;
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
#if ENCODE
    float a = clamp(c.a, 0.0, 1.0);
    vec3 straight = a > 0.0 ? c.rgb / a : vec3(0.0);
    vec3 srgb = encode_srgb(straight);
    f_color = vec4(u_premultiplied == 1 ? srgb * a : srgb, a);
#else
    f_color = c;
#endif
}
