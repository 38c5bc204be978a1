// Signed distance from p to the polygon v[0..n-1] (n <= 8), positive inside (even-odd rule,
// so a self-crossing lip outline still works).
float polygon_sd(vec2 p, vec2 v[8], int n) {
    float d2 = 1e20;
    bool inside = false;
    int j = n - 1;
    for (int i = 0; i < n; i++) {
        vec2 e = v[i] - v[j];
        vec2 w = p - v[j];
        float t = clamp(dot(w, e) / max(dot(e, e), 1e-12), 0.0, 1.0);
        vec2 b = w - e * t;
        d2 = min(d2, dot(b, b));
        if ((v[i].y > p.y) != (v[j].y > p.y)) {
            float x = (v[j].x - v[i].x) * (p.y - v[i].y) / (v[j].y - v[i].y) + v[i].x;
            if (p.x < x) inside = !inside;
        }
        j = i;
    }
    float d = sqrt(d2);
    return inside ? d : -d;
}

// Coverage of an edge at signed distance sd, anti-aliased over one render pixel (aa).
float coverage(float sd, float aa) {
    return clamp(sd / aa + 0.5, 0.0, 1.0);
}

// Distance from p to the open polyline v[0..n-1].
float polyline_distance(vec2 p, vec2 v[8], int n) {
    float d2 = 1e20;
    for (int i = 1; i < n; i++) {
        vec2 e = v[i] - v[i - 1];
        vec2 w = p - v[i - 1];
        float t = clamp(dot(w, e) / max(dot(e, e), 1e-12), 0.0, 1.0);
        vec2 b = w - e * t;
        d2 = min(d2, dot(b, b));
    }
    return sqrt(d2);
}

// Signed offset of p from the open polyline v[0..n-1] across `axis` (positive on the side of
// the normal (-axis.y, axis.x), i.e. below a left-to-right lid in y-down pixels). The
// polyline must advance monotonically along axis.
float polyline_offset(vec2 p, vec2 v[8], int n, vec2 axis) {
    vec2 normal = vec2(-axis.y, axis.x);
    float u = dot(p, axis);
    float offset = dot(p - v[0], normal);
    for (int i = 1; i < n; i++) {
        float u0 = dot(v[i - 1], axis);
        float u1 = dot(v[i], axis);
        if (u >= u0 || i == 1) {
            float t = clamp((u - u0) / max(u1 - u0, 1e-6), 0.0, 1.0);
            offset = dot(p - mix(v[i - 1], v[i], t), normal);
        }
    }
    return offset;
}
