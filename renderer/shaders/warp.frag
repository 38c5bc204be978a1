#version 330
// The source texture holds premultiplied linear-light RGBA stored as sRGB8 (the sampler
// decodes to linear before filtering), so filtering never darkens edges or bleeds the colour
// of transparent pixels. Vertices have w = 1, so screen-linear interpolation is exact.
uniform sampler2D u_source;
noperspective in vec2 v_uv;
out vec4 f_color;

void main() {
    f_color = texture(u_source, v_uv);
}
