#version 330
// A screen-aligned quad around a mouth or eye; the fragment shader works in source pixels.
uniform vec2 u_src_size;
in vec2 in_pos;
out vec2 v_pix;

void main() {
    v_pix = in_pos;
    gl_Position = vec4((in_pos + 0.5) / u_src_size * 2.0 - 1.0, 0.0, 1.0);
}
