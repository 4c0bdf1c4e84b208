// For the object list: each object's area in pixels, and which objects the objects above them
// cover completely. Pixels follow the exports' rule (a polygon holds the pixels whose centres are
// inside it, even-odd; a mask its pixels with alpha >= 128), and every object above counts,
// hidden or not, as it does in the exported masks. Worked out row by row, from runs of pixels.

import { byZ } from './state.js';
import { polygonRowSpans } from './mask/canvas.js';
import { maskToBoxRuns } from './mask/boxruns.js';

const MAX_CHECKED = 1000;   // with more objects the covering is not worked out (it grows as n^2)

const serials = new WeakMap();     // mask canvas -> a number, for the shape keys
let nextSerial = 1;
let shapes = new Map();            // shape key -> pixels (below), kept while the shape is in use
let last = { sig: null, result: null };

/** The pixels of a mask canvas: {first, end: its rows, rows: runs [x0, x1, ...] per row, area},
 * from its box-runs form (kept per canvas version for the saves). */
function maskPixels(c, height) {
  const { box: [bx0, by0, bx1, by1], runs } = maskToBoxRuns(c);
  const w = bx1 - bx0;
  const rows = Array.from({ length: Math.max(0, by1 - by0) }, () => []);
  let pos = 0, inside = false, area = 0;
  for (const n of runs) {
    if (inside) {
      area += n;
      for (let p = pos, left = n; left > 0;) {
        const y = Math.floor(p / w), x = p - y * w, take = Math.min(left, w - x);
        rows[y].push(bx0 + x, bx0 + x + take);
        p += take; left -= take;
      }
    }
    pos += n; inside = !inside;
  }
  const first = Math.max(0, by0);
  return { first, end: Math.min(height, by1), rows: rows.slice(first - by0, height - by0), area };
}

function polygonPixels(poly, width, height) {
  const ys = poly.map((p) => p[1]);
  const first = Math.max(0, Math.floor(Math.min(...ys))), end = Math.min(height, Math.ceil(Math.max(...ys)));
  const rows = [];
  let area = 0;
  for (let row = first; row < end; row++) {
    const r = polygonRowSpans(poly, row, 0, width);
    for (let k = 0; k < r.length; k += 2) area += r[k + 1] - r[k];
    rows.push(r);
  }
  return { first, end, rows, area };
}

/** A key that changes when the object's pixels do (its mask canvas and version, or its vertices). */
export function shapeKey(o) {
  if (o.kind === 'mask') {
    if (!serials.has(o.canvas)) serials.set(o.canvas, nextSerial++);
    return `m${serials.get(o.canvas)}.${o.canvas._v}`;
  }
  let sum = 0;
  o.polygon.forEach(([x, y], i) => { sum += (x * 7.31 + y * 3.17) * (i + 1); });
  return `p${o.polygon.length}.${sum}`;
}

/** The pixels of each object (by shape key), worked out once per shape. */
function pixelsOf(objects, keys, width, height) {
  const kept = new Map();
  objects.forEach((o, i) => {
    const key = keys[i];
    let px = kept.get(key) || shapes.get(key);
    if (!px) px = o.kind === 'mask' ? maskPixels(o.canvas, height) : polygonPixels(o.polygon, width, height);
    kept.set(key, px);
  });
  shapes = kept;
  return keys.map((k) => kept.get(k));
}

let scratch = new Uint8Array(4096);

/** True when every pixel of `own` is in one of `above` (and it has a pixel at all). */
function coveredBy(own, above) {
  let any = false;
  for (let row = own.first; row < own.end; row++) {
    const mine = own.rows[row - own.first];
    if (!mine.length) continue;
    any = true;
    const lo = mine[0], hi = mine[mine.length - 1];
    if (scratch.length < hi - lo) scratch = new Uint8Array(hi - lo);
    scratch.fill(0, 0, hi - lo);
    for (const a of above) {   // the pixels of row `row` the objects above hold, in [lo, hi)
      if (row < a.first || row >= a.end) continue;
      const r = a.rows[row - a.first];
      for (let k = 0; k < r.length; k += 2) {
        const s = Math.max(r[k], lo), e = Math.min(r[k + 1], hi);
        if (e > s) scratch.fill(1, s - lo, e - lo);
      }
    }
    for (let k = 0; k < mine.length; k += 2) {
      if (scratch.subarray(mine[k] - lo, mine[k + 1] - lo).indexOf(0) >= 0) return false;
    }
  }
  return any;
}

function signature(sorted, keys, width, height) {
  return [width, height, ...sorted.map((o, i) => `${o.id}:${keys[i]}`)].join('|');
}

/** {area: Map id -> pixels, covered: Set of ids wholly under the objects above them, checked:
 * whether the covering was worked out (not with more than MAX_CHECKED objects)}. */
export function objectPixels(objects, width, height) {
  const sorted = byZ(objects);
  const keys = sorted.map(shapeKey);
  const sig = signature(sorted, keys, width, height);
  if (sig === last.sig) return last.result;
  if (width !== last.width || height !== last.height) shapes = new Map();
  const pixels = pixelsOf(sorted, keys, width, height);
  const area = new Map(sorted.map((o, i) => [o.id, pixels[i].area]));
  const covered = new Set();
  const checked = sorted.length <= MAX_CHECKED;
  if (checked) {
    sorted.forEach((o, i) => {
      const px = pixels[i];
      if (!px.area) return;
      const above = pixels.slice(i + 1).filter((a) => a.first < px.end && a.end > px.first);
      if (above.length && coveredBy(px, above)) covered.add(o.id);
    });
  }
  last = { sig, width, height, result: { area, covered, checked } };
  return last.result;
}

const DELAY_MS = 150;
let timer = null;

/** objectPixels() when known for these objects (fresh: true); else the last answer (fresh:
 * false; an id may be missing) while the new one is worked out a moment later, off the edit
 * that changed them (a brush stroke on a large mask), and then redraw() is called. */
export function objectPixelsSoon(objects, width, height, redraw) {
  const sorted = byZ(objects);
  if (signature(sorted, sorted.map(shapeKey), width, height) === last.sig) return { ...last.result, fresh: true };
  clearTimeout(timer);
  timer = setTimeout(() => { timer = null; objectPixels(objects, width, height); redraw(); }, DELAY_MS);
  const was = last.result || { area: new Map(), covered: new Set(), checked: true };
  return { ...was, fresh: false };
}
