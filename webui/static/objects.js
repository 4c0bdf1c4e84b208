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
  setBBox(c, null);   // blank
  return c;
}

function ctx2d(c) {
  return c.getContext('2d', { willReadFrequently: true });
}

/** Marks a mask canvas as modified (invalidates the caches); rect [x0, y0, x1, y1] says
 * where, so that the tinted copy is only redone there. */
export function touch(c, rect) {
  c._v = (c._v || 0) + 1;
  if (!rect || c._dirty === 'all') c._dirty = 'all';
  else c._dirty = c._dirty ? unionBox(c._dirty, rect) : rect;
}

export function cloneCanvas(src) {
  const c = makeCanvas(src.width, src.height);
  ctx2d(c).drawImage(src, 0, 0);
  const hit = bboxCache.get(src);
  if (hit && hit.v === src._v) setBBox(c, hit.box);
  return c;
}

// Mask pixels are 0 (outside) or 0xffffffff (white, opaque) as little-endian RGBA words.
const ON = 0xffffffff;
const bboxCache = new WeakMap();   // canvas -> {v, box}

function setBBox(c, box) { bboxCache.set(c, { v: c._v, box }); }

/** Rewrites the pixels of rect [x0, y0, x1, y1] (default: all) to inside / outside by
 * inside(word); returns the box of the inside pixels found there (or null). */
function rewrite(c, inside, rect) {
  const [rx0, ry0, rx1, ry1] = rect || [0, 0, c.width, c.height];
  const w = rx1 - rx0, h = ry1 - ry0;
  if (w <= 0 || h <= 0) return null;
  const g = ctx2d(c);
  const img = g.getImageData(rx0, ry0, w, h);
  const px = new Uint32Array(img.data.buffer);
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0, i = 0; y < h; y++) {
    let first = -1, last = -1;
    for (let x = 0; x < w; x++, i++) {
      if (inside(px[i])) { px[i] = ON; if (first < 0) first = x; last = x; } else px[i] = 0;
    }
    if (first >= 0) {
      if (first < x0) x0 = first;
      if (last > x1) x1 = last;
      if (y0 > y) y0 = y;
      y1 = y;
    }
  }
  g.putImageData(img, rx0, ry0);
  touch(c, rect ? [rx0, ry0, rx1, ry1] : null);
  return x1 < 0 ? null : [rx0 + x0, ry0 + y0, rx0 + x1 + 1, ry0 + y1 + 1];
}

const binary = (u) => (u >>> 24) >= 128;

/** Makes every pixel fully inside (white, alpha 255) or outside (transparent); cut at alpha 128. */
export function binarize(c) {
  setBBox(c, rewrite(c, binary));
  return c;
}

/** binarize() for a mask that only grew inside rect since it had the box `before`. */
export function binarizeGrown(c, rect, before) {
  const r = [Math.max(0, Math.floor(rect[0])), Math.max(0, Math.floor(rect[1])),
    Math.min(c.width, Math.ceil(rect[2])), Math.min(c.height, Math.ceil(rect[3]))];
  const found = rewrite(c, binary, r);
  setBBox(c, unionBox(before, found));
  return c;
}

function unionBox(a, b) {
  if (!a) return b;
  if (!b) return a;
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}

/** [x0, y0, x1, y1] (exclusive end) of a mask canvas, or null when empty. */
export function maskBBox(c) {
  const hit = bboxCache.get(c);
  if (hit && hit.v === c._v) return hit.box;
  const d = ctx2d(c).getImageData(0, 0, c.width, c.height).data;
  const px = new Uint32Array(d.buffer);
  const { width: w, height: h } = c;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      if (px[i] >>> 24) {
        if (x < x0) x0 = x; if (x > x1) x1 = x;
        if (y < y0) y0 = y; y1 = y;
      }
    }
  }
  const box = x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
  setBBox(c, box);
  return box;
}

/** Grows the recorded box by a painted rectangle (cheap, while a brush stroke goes on). */
export function growBBox(c, x0, y0, x1, y1) {
  const hit = bboxCache.get(c);
  let box = hit ? hit.box : maskBBox(c);
  x0 = Math.max(0, Math.floor(x0)); y0 = Math.max(0, Math.floor(y0));
  x1 = Math.min(c.width, Math.ceil(x1)); y1 = Math.min(c.height, Math.ceil(y1));
  if (x1 > x0 && y1 > y0) box = unionBox(box, [x0, y0, x1, y1]);
  setBBox(c, box);
}

/** Keeps the recorded box as it was (an eraser stroke only shrinks the mask). */
export function keepBBox(c) {
  const hit = bboxCache.get(c);
  setBBox(c, hit ? hit.box : maskBBox(c));
}

export function isEmptyMask(c) {
  return maskBBox(c) === null;
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
  ctx2d(c).drawImage(img, 0, 0);
  // opaque grey levels (the server's 0/255 PNGs) or alpha: inside where anything is > 0
  setBBox(c, rewrite(c, (u) => (u >>> 24) > 0 && ((u & 0xffffff) !== 0 || (u >>> 24) < 255)));
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
/** The mask filled with a colour, for drawing (cached per canvas version and colour; after
 * touch(c, rect) only rect is redone, which keeps brush strokes on large images fluid). */
export function tinted(c, color) {
  const hit = tintCache.get(c);
  const usable = hit && hit.color === color && hit.canvas.width === c.width && hit.canvas.height === c.height;
  if (usable && hit.v === c._v) return hit.canvas;
  const t = usable ? hit.canvas : makeCanvas(c.width, c.height);
  const g = t.getContext('2d');
  let [x, y, w, h] = [0, 0, t.width, t.height];
  const partial = usable && c._dirty && c._dirty !== 'all' && hit.v === c._dirtyFrom;
  g.save();
  if (partial) {
    const [x0, y0, x1, y1] = c._dirty;
    x = Math.max(0, Math.floor(x0)); y = Math.max(0, Math.floor(y0));
    w = Math.min(t.width, Math.ceil(x1)) - x; h = Math.min(t.height, Math.ceil(y1)) - y;
    g.beginPath(); g.rect(x, y, w, h); g.clip();
  }
  if (w > 0 && h > 0) {
    g.globalCompositeOperation = 'copy';
    g.drawImage(c, 0, 0);
    g.globalCompositeOperation = 'source-in';
    g.fillStyle = color;
    g.fillRect(x, y, w, h);
  }
  g.restore();
  tintCache.set(c, { v: c._v, color, canvas: t });
  c._dirty = null;
  c._dirtyFrom = c._v;
  return t;
}

/** Rasterises a polygon into a new alpha mask canvas: a pixel is inside when its centre is
 * (even-odd rule), the same rule as the server's edgemask.runtime.shapes.polygons_to_mask. */
export function polygonToMask(poly, w, h) {
  const c = makeCanvas(w, h);
  const g = ctx2d(c);
  const img = g.createImageData(w, h);
  const px = new Uint32Array(img.data.buffer);
  const n = poly.length;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
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
      if (cols[k + 1] <= cols[k]) continue;
      px.fill(ON, row * w + cols[k], row * w + cols[k + 1]);
      x0 = Math.min(x0, cols[k]); x1 = Math.max(x1, cols[k + 1] - 1);
      y0 = Math.min(y0, row); y1 = row;
    }
  }
  g.putImageData(img, 0, 0);
  setBBox(c, x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1]);
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

export function topZ(objects) {
  return objects.length ? Math.max(...objects.map((o) => o.z)) + 1 : 0;
}

export function bottomZ(objects) {
  return objects.length ? Math.min(...objects.map((o) => o.z)) - 1 : 0;
}
