#version 330
// Piecewise-affine warp: each mesh vertex sits at its frame position and samples the source
// image at its rest position. Positions are source-image pixels (pixel centres at integers);
// pixel row 0 maps to the bottom of the framebuffer so that glReadPixels returns rows
// top-down without a flip.
uniform vec2 u_src_size;
in vec2 in_pos;
in vec2 in_uv;
noperspective out vec2 v_uv;

void main() {
    v_uv = in_uv;
    gl_Position = vec4((in_pos + 0.5) / u_src_size * 2.0 - 1.0, 0.0, 1.0);
}
