#version 330
// The source texture holds linear-light, premultiplied RGBA (half floats, mip-mapped), so
// filtering never darkens edges or bleeds the colour of transparent pixels.
uniform sampler2D u_source;
in vec2 v_uv;
out vec4 f_color;

void main() {
    f_color = texture(u_source, v_uv);
}
