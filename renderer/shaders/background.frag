#version 330
// The background image (already at the render size, linear premultiplied) copied under the
// scene; used where a framebuffer blit cannot be (multisampled targets).
uniform sampler2D u_bg;
out vec4 f_color;

void main() {
    f_color = texelFetch(u_bg, ivec2(gl_FragCoord.xy), 0);
}
