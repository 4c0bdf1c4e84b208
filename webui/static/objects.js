// Annotation objects: creation, mask canvases (alpha = inside), tinting,
// hit testing and conversion to / from the API's JSON form.

export function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function makeCanvas(w, h) {
  const c = document.createElement('canvas');
  c.width = w; c.height = h;
  c._v = 0;
  return c;
}

function ctx2d(c) {
  return c.getContext('2d', { willReadFrequently: true });
}

/** Marks a mask canvas as modified (invalidates tint and PNG caches). */
export function touch(c) { c._v = (c._v || 0) + 1; }

export function cloneCanvas(src) {
  const c = makeCanvas(src.width, src.height);
  ctx2d(c).drawImage(src, 0, 0);
  return c;
}

/** Makes every pixel fully inside (white, alpha 255) or outside (transparent); cut at alpha 128. */
export function binarize(c) {
  const g = ctx2d(c);
  const img = g.getImageData(0, 0, c.width, c.height);
  const d = img.data;
  for (let i = 0; i < d.length; i += 4) {
    const v = d[i + 3] >= 128 ? 255 : 0;
    d[i] = d[i + 1] = d[i + 2] = v; d[i + 3] = v;
  }
  g.putImageData(img, 0, 0);
  touch(c);
  return c;
}

export function isEmptyMask(c) {
  const d = ctx2d(c).getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i]) return false;
  return true;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('could not decode ' + url.slice(0, 40)));
    img.src = url;
  });
}

/** Decodes an API mask (PNG data URL, inside where any channel or alpha > 0) into an alpha mask canvas. */
export async function maskFromDataURL(url, w, h) {
  const img = await loadImage(url);
  const c = makeCanvas(w, h);
  const g = ctx2d(c);
  g.drawImage(img, 0, 0);
  const im = g.getImageData(0, 0, w, h);
  const d = im.data;
  for (let i = 0; i < d.length; i += 4) {
    const on = d[i + 3] > 0 && (d[i] > 0 || d[i + 1] > 0 || d[i + 2] > 0 || d[i + 3] < 255);
    const v = on ? 255 : 0;
    d[i] = d[i + 1] = d[i + 2] = v; d[i + 3] = v;
  }
  g.putImageData(im, 0, 0);
  return c;
}

const pngCache = new WeakMap();
export function maskToDataURL(c) {
  const hit = pngCache.get(c);
  if (hit && hit.v === c._v) return hit.url;
  const url = c.toDataURL('image/png');
  pngCache.set(c, { v: c._v, url });
  return url;
}

const tintCache = new WeakMap();
/** The mask filled with a colour, for drawing (cached per canvas version and colour). */
export function tinted(c, color) {
  const hit = tintCache.get(c);
  if (hit && hit.v === c._v && hit.color === color) return hit.canvas;
  const t = (hit && hit.canvas.width === c.width && hit.canvas.height === c.height)
    ? hit.canvas : makeCanvas(c.width, c.height);
  const g = t.getContext('2d');
  g.globalCompositeOperation = 'copy';
  g.drawImage(c, 0, 0);
  g.globalCompositeOperation = 'source-in';
  g.fillStyle = color;
  g.fillRect(0, 0, t.width, t.height);
  g.globalCompositeOperation = 'source-over';
  tintCache.set(c, { v: c._v, color, canvas: t });
  return t;
}

/** Rasterises a polygon into a new alpha mask canvas: a pixel is inside when its centre is
 * (even-odd rule), the same rule as the server's edgemask.runtime.shapes.polygons_to_mask. */
export function polygonToMask(poly, w, h) {
  const c = makeCanvas(w, h);
  const g = ctx2d(c);
  const img = g.createImageData(w, h);
  const d = img.data;
  const n = poly.length;
  for (let row = 0; row < h; row++) {
    const yc = row + 0.5;
    const cols = [];
    for (let i = 0; i < n; i++) {
      const [xa, ya] = poly[i], [xb, yb] = poly[(i + 1) % n];
      if (yc < Math.min(ya, yb) || yc >= Math.max(ya, yb)) continue;
      const x = xa + ((yc - ya) / (yb - ya)) * (xb - xa);
      cols.push(Math.min(w, Math.max(0, Math.ceil(x - 0.5))));
    }
    cols.sort((a, b) => a - b);
    for (let k = 0; k + 1 < cols.length; k += 2) {
      for (let col = cols[k]; col < cols[k + 1]; col++) d.fill(255, (row * w + col) * 4, (row * w + col) * 4 + 4);
    }
  }
  g.putImageData(img, 0, 0);
  return c;
}

export function pointInPolygon(poly, x, y) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function maskHas(c, x, y) {
  const xi = Math.floor(x), yi = Math.floor(y);
  if (xi < 0 || yi < 0 || xi >= c.width || yi >= c.height) return false;
  return ctx2d(c).getImageData(xi, yi, 1, 1).data[3] > 0;
}

export function hitObject(o, x, y) {
  if (o.kind === 'polygon') return pointInPolygon(o.polygon, x, y);
  return maskHas(o.canvas, x, y);
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

export const round2 = (v) => Math.round(v * 100) / 100;

/** API JSON for one object. */
export function toJSON(o) {
  const out = { id: o.id, label_id: o.label_id, kind: o.kind, z: o.z, hidden: !!o.hidden };
  if (o.kind === 'polygon') out.polygon = o.polygon.map(([x, y]) => [round2(x), round2(y)]);
  else out.mask = maskToDataURL(o.canvas);
  return out;
}

/** Object record from the API's JSON (decodes masks). */
export async function fromJSON(j, w, h) {
  const o = { id: j.id, label_id: j.label_id, kind: j.kind, z: j.z, hidden: !!j.hidden };
  if (j.kind === 'polygon') o.polygon = j.polygon.map(([x, y]) => [x, y]);
  else o.canvas = await maskFromDataURL(j.mask, w, h);
  return o;
}

const bboxCache = new WeakMap();
/** [x0, y0, x1, y1] (exclusive end) of a mask canvas, or null when empty. */
export function maskBBox(c) {
  const hit = bboxCache.get(c);
  if (hit && hit.v === c._v) return hit.box;
  const { width: w, height: h } = c;
  const d = ctx2d(c).getImageData(0, 0, w, h).data;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (d[(y * w + x) * 4 + 3]) {
        if (x < x0) x0 = x; if (x > x1) x1 = x;
        if (y < y0) y0 = y; if (y > y1) y1 = y;
      }
    }
  }
  const box = x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
  bboxCache.set(c, { v: c._v, box });
  return box;
}

export function topZ(objects) {
  return objects.length ? Math.max(...objects.map((o) => o.z)) + 1 : 0;
}

export function bottomZ(objects) {
  return objects.length ? Math.min(...objects.map((o) => o.z)) - 1 : 0;
}
