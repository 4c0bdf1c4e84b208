// Mask canvases (alpha = inside): making, copying, binarizing, boxes, tinting, hit testing,
// rasterising a polygon and the full-size PNG of a mask. The API's box-runs form is boxruns.js.

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

/** The 2D context of a mask canvas (read often). */
export function ctx2d(c) {
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

/** The little-endian RGBA word of an inside pixel in `color` (white without one). */
export function colorWord(color) {
  if (!color) return ON;
  return (0xff000000 | (parseInt(color.slice(5, 7), 16) << 16)
    | (parseInt(color.slice(3, 5), 16) << 8) | parseInt(color.slice(1, 3), 16)) >>> 0;
}

const bboxCache = new WeakMap();   // canvas -> {v, box}

/** Records the box of a mask canvas for its current version. */
export function setBBox(c, box) { bboxCache.set(c, { v: c._v, box }); }

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

export function unionBox(a, b) {
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

// Lineage: a mask canvas made from another by changes inside a rect (a brush or eraser stroke)
// says so, so that a save sends only that rect's pixels (autosave.js). The records hold ids and
// rects, never canvases: a long chain of strokes keeps no old pixels alive.
let nextUid = 1;
const uid = (c) => c._uid || (c._uid = nextUid++);
const MAX_LINEAGE = 500;

/** Records that mask canvas `c` has the pixels of `from` except inside rect [x0, y0, x1, y1]. */
export function derive(c, from, rect) {
  c._lineage = { uid: uid(from), v: from._v, rect, up: from._lineage || null };
}

/** (uid:version of each canvas c descends from, itself included) -> the rect outside which
 * they have the same pixels (null: none differ). */
function ancestry(c) {
  const out = new Map([[`${uid(c)}:${c._v}`, null]]);
  let rect = null;
  for (let n = c._lineage, k = 0; n && k < MAX_LINEAGE; n = n.up, k++) {
    rect = unionBox(rect, n.rect);
    out.set(`${n.uid}:${n.v}`, rect);
  }
  return out;
}

/** The key of a mask canvas as it is now, as its children's lineage names it. */
export const lineageKey = (c) => `${uid(c)}:${c._v}`;

/** The key of the canvas `c` was derived from, and the rect where they differ; or null. */
export function lineageParent(c) {
  const n = c._lineage;
  return n ? { key: `${n.uid}:${n.v}`, rect: n.rect } : null;
}

/** The rect outside which mask canvas `a` (as it was at version `va`) and `b` have the same
 * pixels, as their lineage says (both descend from one canvas: a stroke, its undo or redo);
 * null when none differ; undefined when their lineage does not tell. */
export function changedRect(a, va, b) {
  if (a._v !== va) return undefined;   // changed in place since: its lineage no longer says
  const seen = ancestry(b);
  let rect = null;
  const first = `${uid(a)}:${a._v}`;
  if (seen.has(first)) return seen.get(first);
  for (let n = a._lineage, k = 0; n && k < MAX_LINEAGE; n = n.up, k++) {
    rect = unionBox(rect, n.rect);
    const key = `${n.uid}:${n.v}`;
    if (seen.has(key)) return unionBox(rect, seen.get(key));
  }
  return undefined;
}

export function isEmptyMask(c) {
  return maskBBox(c) === null;
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
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let row = by0; row < by0 + ch; row++) {
    const cols = polygonRowSpans(poly, row, bx0, bx0 + cw);
    for (let k = 0; k < cols.length; k += 2) {
      px.fill(ON, (row - by0) * cw + cols[k] - bx0, (row - by0) * cw + cols[k + 1] - bx0);
      x0 = Math.min(x0, cols[k]); x1 = Math.max(x1, cols[k + 1] - 1);
      y0 = Math.min(y0, row); y1 = row;
    }
  }
  g.putImageData(img, 0, 0);
  setBBox(c, x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1]);
  return c;
}

/** The polygon's pixels in image row `row` as [x0, x1, x0, x1, ...] runs (x1 exclusive) within
 * columns [lo, hi): those whose centre is inside (even-odd rule). */
export function polygonRowSpans(poly, row, lo, hi) {
  const yc = row + 0.5;
  const cols = [];
  for (let i = 0, n = poly.length; i < n; i++) {
    const [xa, ya] = poly[i], [xb, yb] = poly[(i + 1) % n];
    if (yc < Math.min(ya, yb) || yc >= Math.max(ya, yb)) continue;
    const x = xa + ((yc - ya) / (yb - ya)) * (xb - xa);
    cols.push(Math.min(hi, Math.max(lo, Math.ceil(x - 0.5))));
  }
  cols.sort((a, b) => a - b);
  const runs = [];
  for (let k = 0; k + 1 < cols.length; k += 2) if (cols[k + 1] > cols[k]) runs.push(cols[k], cols[k + 1]);
  return runs;
}

export function maskHas(c, x, y) {
  const xi = Math.floor(x) - c._x, yi = Math.floor(y) - c._y;
  if (xi < 0 || yi < 0 || xi >= c.width || yi >= c.height) return false;
  return ctx2d(c).getImageData(xi, yi, 1, 1).data[3] > 0;
}
