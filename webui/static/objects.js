// Annotation objects: creation, mask canvases (alpha = inside), tinting,
// hit testing and conversion to / from the API's JSON form.

export function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// A mask is a canvas covering only part of the image: c._x, c._y is the image position of its
// top-left pixel (a brush stroke grows it as needed). Boxes and rects are in image pixels.
// Alpha says inside (>= 128 once binarized); the colour is white, or c._color ('#rrggbb') for
// every inside pixel, so that drawing the mask in that colour needs no tinted copy.

export function makeCanvas(w, h, x = 0, y = 0) {
  const c = document.createElement('canvas');
  c.width = Math.max(1, w); c.height = Math.max(1, h);
  c._x = x; c._y = y;
  c._v = 0;
  setBBox(c, null);   // blank
  return c;
}

function ctx2d(c) {
  return c.getContext('2d', { willReadFrequently: true });
}

/** Marks a mask canvas as modified (invalidates the caches); rect [x0, y0, x1, y1] (image
 * pixels) says where, so that the tinted copy is only redone there. */
export function touch(c, rect) {
  c._v = (c._v || 0) + 1;
  if (!rect || c._dirty === 'all') c._dirty = 'all';
  else c._dirty = c._dirty ? unionBox(c._dirty, rect) : rect;
}

export function cloneCanvas(src) {
  const c = makeCanvas(src.width, src.height, src._x, src._y);
  c._color = src._color;
  ctx2d(c).drawImage(src, 0, 0);
  const hit = bboxCache.get(src);
  if (hit && hit.v === src._v) setBBox(c, hit.box);
  return c;
}

/** A copy of a mask canvas covering the whole w x h image (for a brush stroke, which may go
 * anywhere: one copy at its start instead of several while it grows). `into`, a canvas of that
 * size whose content is no longer needed (the previous stroke's), is reused when given: a new
 * 48 MB canvas for each stroke on a 12 MP photo would cost more than the copy. */
export function widen(c, w, h, into = null) {
  let n = into;
  if (n && n.width === w && n.height === h && n !== c) {
    const old = maskBBox(n);
    if (old) ctx2d(n).clearRect(old[0], old[1], old[2] - old[0], old[3] - old[1]);
    n._v = Math.max(n._v, c._v) + 1;
    n._dirty = 'all';
  } else {
    n = makeCanvas(w, h, 0, 0);
    n._v = c._v + 1;
  }
  n._color = c._color;
  const box = maskBBox(c);
  if (box) ctx2d(n).drawImage(c, c._x, c._y);
  setBBox(n, box);
  return n;
}

/** A copy of a mask canvas cut to its mask's box (after a stroke: small to keep and draw). */
export function trim(c) {
  const box = maskBBox(c);
  const [x0, y0, x1, y1] = box || [0, 0, 1, 1];
  if (box && x0 === c._x && y0 === c._y && x1 - x0 === c.width && y1 - y0 === c.height) return c;
  const n = makeCanvas(x1 - x0, y1 - y0, x0, y0);
  n._color = c._color;
  if (box) ctx2d(n).drawImage(c, c._x - x0, c._y - y0);
  n._v = c._v + 1;
  setBBox(n, box);
  return n;
}

// Mask pixels are 0 (outside) or opaque white / c._color (inside) as little-endian RGBA words.
const ON = 0xffffffff;

function colorWord(color) {
  if (!color) return ON;
  return (0xff000000 | (parseInt(color.slice(5, 7), 16) << 16)
    | (parseInt(color.slice(3, 5), 16) << 8) | parseInt(color.slice(1, 3), 16)) >>> 0;
}

const bboxCache = new WeakMap();   // canvas -> {v, box}

function setBBox(c, box) { bboxCache.set(c, { v: c._v, box }); }

/** Rewrites the pixels of rect [x0, y0, x1, y1] (image pixels; default: the whole canvas) to
 * inside / outside by inside(word); returns the box of the inside pixels found there (or null). */
function rewrite(c, inside, rect) {
  const full = [c._x, c._y, c._x + c.width, c._y + c.height];
  const [rx0, ry0, rx1, ry1] = rect ? [Math.max(rect[0], full[0]), Math.max(rect[1], full[1]),
    Math.min(rect[2], full[2]), Math.min(rect[3], full[3])] : full;
  const w = rx1 - rx0, h = ry1 - ry0;
  if (w <= 0 || h <= 0) return null;
  const g = ctx2d(c);
  const img = g.getImageData(rx0 - c._x, ry0 - c._y, w, h);
  const px = new Uint32Array(img.data.buffer);
  const on = colorWord(c._color);
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0, i = 0; y < h; y++) {
    let first = -1, last = -1;
    for (let x = 0; x < w; x++, i++) {
      if (inside(px[i])) { px[i] = on; if (first < 0) first = x; last = x; } else px[i] = 0;
    }
    if (first >= 0) {
      if (first < x0) x0 = first;
      if (last > x1) x1 = last;
      if (y0 > y) y0 = y;
      y1 = y;
    }
  }
  g.putImageData(img, rx0 - c._x, ry0 - c._y);
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
  const r = [Math.floor(rect[0]), Math.floor(rect[1]), Math.ceil(rect[2]), Math.ceil(rect[3])];
  const found = rewrite(c, binary, r);
  setBBox(c, unionBox(before, found));
  return c;
}

function unionBox(a, b) {
  if (!a) return b;
  if (!b) return a;
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}

/** [x0, y0, x1, y1] (image pixels, exclusive end) of a mask canvas, or null when empty. */
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
  const box = x1 < 0 ? null : [c._x + x0, c._y + y0, c._x + x1 + 1, c._y + y1 + 1];
  setBBox(c, box);
  return box;
}

/** Grows the recorded box by a painted rectangle (cheap, while a brush stroke goes on). */
export function growBBox(c, x0, y0, x1, y1) {
  const hit = bboxCache.get(c);
  let box = hit ? hit.box : maskBBox(c);
  x0 = Math.max(c._x, Math.floor(x0)); y0 = Math.max(c._y, Math.floor(y0));
  x1 = Math.min(c._x + c.width, Math.ceil(x1)); y1 = Math.min(c._y + c.height, Math.ceil(y1));
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

/** Decodes an API mask {box: [x0, y0, x1, y1], runs: [outside, inside, ...]} (row-major runs
 * over the box) into a mask canvas covering the box. With `color` ('#rrggbb') the inside pixels
 * get that colour (alpha says inside, as always), so that drawing it in that colour needs no
 * tinted copy. */
export function maskFromBoxRuns(m, color = null) {
  const [x0, y0, x1, y1] = m.box;
  const w = x1 - x0, h = y1 - y0;
  const c = makeCanvas(w, h, x0, y0);
  if (w <= 0 || h <= 0) return c;
  const g = ctx2d(c);
  const img = g.createImageData(w, h);
  const px = new Uint32Array(img.data.buffer);
  c._color = color || undefined;
  const word = colorWord(color);
  let pos = 0, any = false;
  const runs = m.runs;
  for (let k = 0; k < runs.length; k++) {
    const n = runs[k];
    if ((k & 1) && n) { px.fill(word, pos, pos + n); any = true; }
    pos += n;
  }
  g.putImageData(img, 0, 0);
  setBBox(c, any ? [x0, y0, x1, y1] : null);   // the API's boxes are tight
  return c;
}

/** A preview of an API mask for a view at `scale` (screen px per image px): below 1/2 it is
 * decoded at every step-th pixel (nearest), which is all the screen shows and a fraction of the
 * work on a big photo; c._step says so. previewMask(p) gives the full-resolution mask. */
export function maskPreview(m, color, scale) {
  const step = Math.max(1, Math.floor(1 / Math.max(scale, 1e-3)));
  if (step === 1) return { canvas: maskFromBoxRuns(m, color), mask: m };
  const [x0, y0, x1, y1] = m.box;
  const w = x1 - x0, h = y1 - y0;
  const cw = Math.ceil(w / step), ch = Math.ceil(h / step);
  const c = makeCanvas(cw, ch, x0, y0);
  c._step = step;
  c._color = color;
  if (w > 0 && h > 0) {
    const g = ctx2d(c);
    const img = g.createImageData(cw, ch);
    const px = new Uint32Array(img.data.buffer);
    const word = colorWord(color);
    let pos = 0;
    const runs = m.runs;
    for (let k = 0; k < runs.length; k++) {
      const n = runs[k];
      if ((k & 1) && n) {   // inside pixels pos .. pos + n - 1, possibly over several rows
        for (let y = Math.floor(pos / w), end = pos + n; y * w < end; y++) {
          if (y % step) continue;
          const a = Math.max(pos, y * w) - y * w, b = Math.min(end, (y + 1) * w) - y * w;
          const ca = Math.ceil(a / step), cb = Math.ceil(b / step);
          if (cb > ca) px.fill(word, (y / step) * cw + ca, (y / step) * cw + cb);
        }
      }
      pos += n;
    }
    g.putImageData(img, 0, 0);
  }
  return { canvas: c, mask: m };
}

/** The full-resolution mask canvas of a preview made by maskPreview. */
export function previewMask(p) {
  return p.canvas._step > 1 ? maskFromBoxRuns(p.mask, p.canvas._color) : p.canvas;
}

const runsCache = new WeakMap();
/** The API form {box, runs} of a mask canvas (tight box; cached per canvas version). */
export function maskToBoxRuns(c) {
  const hit = runsCache.get(c);
  if (hit && hit.v === c._v) return hit.value;
  const box = maskBBox(c);
  let value = { box: [0, 0, 0, 0], runs: [] };
  if (box) {
    const [x0, y0, x1, y1] = box;
    const w = x1 - x0, h = y1 - y0;
    const px = new Uint32Array(ctx2d(c).getImageData(x0 - c._x, y0 - c._y, w, h).data.buffer);
    const runs = [];
    let cur = false, n = 0;
    for (let i = 0; i < px.length; i++) {
      const on = (px[i] >>> 24) >= 128;
      if (on !== cur) { runs.push(n); n = 0; cur = on; }
      n++;
    }
    runs.push(n);
    value = { box: [x0, y0, x1, y1], runs };
  }
  runsCache.set(c, { v: c._v, value });
  return value;
}

/** A full-size (w x h) PNG data URL of a mask canvas (white inside, transparent outside). */
export function maskToDataURL(c, w, h) {
  const full = document.createElement('canvas');
  full.width = w; full.height = h;
  const g = full.getContext('2d');
  const step = c._step || 1;
  g.drawImage(c, c._x, c._y, c.width * step, c.height * step);
  g.globalCompositeOperation = 'source-in';   // white whatever colour the mask is kept in
  g.fillStyle = '#fff';
  g.fillRect(0, 0, w, h);
  return full.toDataURL('image/png');
}

const tintCache = new WeakMap();
/** The mask filled with a colour, for drawing at (c._x, c._y) (cached per canvas version and
 * colour; after touch(c, rect) only rect is redone, which keeps brush strokes fluid). */
export function tinted(c, color) {
  if (c._color === color) return c;   // drawn in that colour already
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
    x = Math.max(0, Math.floor(x0 - c._x)); y = Math.max(0, Math.floor(y0 - c._y));
    w = Math.min(t.width, Math.ceil(x1 - c._x)) - x; h = Math.min(t.height, Math.ceil(y1 - c._y)) - y;
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

/** Rasterises a polygon into a new mask canvas covering its box: a pixel is inside when its
 * centre is (even-odd rule), the same rule as the server's edgemask.runtime.shapes.polygons_to_mask. */
export function polygonToMask(poly, w, h) {
  const xs = poly.map((p) => p[0]), ys = poly.map((p) => p[1]);
  const bx0 = Math.max(0, Math.floor(Math.min(...xs))), by0 = Math.max(0, Math.floor(Math.min(...ys)));
  const bx1 = Math.min(w, Math.ceil(Math.max(...xs))), by1 = Math.min(h, Math.ceil(Math.max(...ys)));
  const cw = Math.max(1, bx1 - bx0), ch = Math.max(1, by1 - by0);
  const c = makeCanvas(cw, ch, bx0, by0);
  const g = ctx2d(c);
  const img = g.createImageData(cw, ch);
  const px = new Uint32Array(img.data.buffer);
  const n = poly.length;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let row = by0; row < by0 + ch; row++) {
    const yc = row + 0.5;
    const cols = [];
    for (let i = 0; i < n; i++) {
      const [xa, ya] = poly[i], [xb, yb] = poly[(i + 1) % n];
      if (yc < Math.min(ya, yb) || yc >= Math.max(ya, yb)) continue;
      const x = xa + ((yc - ya) / (yb - ya)) * (xb - xa);
      cols.push(Math.min(bx0 + cw, Math.max(bx0, Math.ceil(x - 0.5))));
    }
    cols.sort((a, b) => a - b);
    for (let k = 0; k + 1 < cols.length; k += 2) {
      if (cols[k + 1] <= cols[k]) continue;
      px.fill(ON, (row - by0) * cw + cols[k] - bx0, (row - by0) * cw + cols[k + 1] - bx0);
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
  const xi = Math.floor(x) - c._x, yi = Math.floor(y) - c._y;
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

/** What annotation tools record about an object (occluded, group, attributes), copied so
 *  that a save writes back what was imported. */
export function extrasOf(o) {
  const out = {};
  if (o.occluded) out.occluded = true;
  if (o.group) out.group = o.group;
  if (o.attributes && Object.keys(o.attributes).length) out.attributes = { ...o.attributes };
  return out;
}

/** API JSON for one object. */
export function toJSON(o) {
  const out = { id: o.id, label_id: o.label_id, kind: o.kind, z: o.z, hidden: !!o.hidden, ...extrasOf(o) };
  if (o.kind === 'polygon') out.polygon = o.polygon.map(([x, y]) => [round2(x), round2(y)]);
  else out.mask = maskToBoxRuns(o.canvas);
  return out;
}

/** Object record from the API's JSON (decodes masks, in `color` when given). */
export function fromJSON(j, color = null) {
  const o = { id: j.id, label_id: j.label_id, kind: j.kind, z: j.z, hidden: !!j.hidden, ...extrasOf(j) };
  if (j.kind === 'polygon') o.polygon = j.polygon.map(([x, y]) => [x, y]);
  else o.canvas = maskFromBoxRuns(j.mask, color);
  return o;
}

export function topZ(objects) {
  return objects.length ? Math.max(...objects.map((o) => o.z)) + 1 : 0;
}

export function bottomZ(objects) {
  return objects.length ? Math.min(...objects.map((o) => o.z)) - 1 : 0;
}
