// Polygon geometry in image pixels: point inside, nearest vertex and nearest edge.

export function pointInPolygon(poly, x, y) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Nearest vertex index within tol (image px) or -1. */
export function nearestVertex(poly, x, y, tol) {
  let best = -1, bd = tol * tol;
  poly.forEach(([px, py], i) => {
    const d = (px - x) ** 2 + (py - y) ** 2;
    if (d <= bd) { bd = d; best = i; }
  });
  return best;
}

/** Nearest edge {index i (edge i -> i+1), point} within tol (image px) or null. */
export function nearestEdge(poly, x, y, tol) {
  let best = null, bd = tol * tol;
  for (let i = 0; i < poly.length; i++) {
    const [ax, ay] = poly[i], [bx, by] = poly[(i + 1) % poly.length];
    const dx = bx - ax, dy = by - ay;
    const len2 = dx * dx + dy * dy || 1;
    const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2));
    const px = ax + t * dx, py = ay + t * dy;
    const d = (px - x) ** 2 + (py - y) ** 2;
    if (d <= bd) { bd = d; best = { index: i, point: [px, py] }; }
  }
  return best;
}
