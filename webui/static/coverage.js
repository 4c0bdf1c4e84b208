// For the object list: each object's area in pixels, and which objects the objects above them
// cover completely. Pixels follow the exports' rule (a polygon holds the pixels whose centres are
// inside it, even-odd; a mask its pixels with alpha >= 128), and every object above counts,
// hidden or not, as it does in the exported masks. Worked out row by row, from runs of pixels.

import { byZ } from './state.js';
import { ctx2d, polygonRowSpans } from './mask/canvas.js';

const MAX_CHECKED = 1000;   // with more objects the covering is not worked out (it grows as n^2)

const maskCache = new WeakMap();   // mask canvas -> {v, rows: runs per canvas row, area}
const serials = new WeakMap();     // mask canvas -> a number, for the signature
let nextSerial = 1;
let last = { sig: null, result: null };

function maskRuns(c) {
  const hit = maskCache.get(c);
  if (hit && hit.v === c._v) return hit;
  const { width: w, height: h } = c;
  const x0 = c._x || 0;
  const data = ctx2d(c).getImageData(0, 0, w, h).data;
  const rows = new Array(h);
  let area = 0;
  for (let y = 0; y < h; y++) {
    const runs = [];
    let start = -1;
    for (let x = 0, i = y * w * 4 + 3; x <= w; x++, i += 4) {
      const on = x < w && data[i] >= 128;
      if (on && start < 0) start = x;
      else if (!on && start >= 0) { runs.push(x0 + start, x0 + x); area += x - start; start = -1; }
    }
    rows[y] = runs;
  }
  const out = { v: c._v, rows, area };
  maskCache.set(c, out);
  return out;
}

/** {rows: [first, end), runs(row)} of an object's pixels inside the width x height image. */
function pixelsOf(o, width, height) {
  if (o.kind === 'mask') {
    const m = maskRuns(o.canvas), y0 = o.canvas._y || 0;
    return { first: Math.max(0, y0), end: Math.min(height, y0 + o.canvas.height),
      runs: (row) => m.rows[row - y0] || [] };
  }
  const ys = o.polygon.map((p) => p[1]);
  return { first: Math.max(0, Math.floor(Math.min(...ys))), end: Math.min(height, Math.ceil(Math.max(...ys))),
    runs: (row) => polygonRowSpans(o.polygon, row, 0, width) };
}

function areaOf(o, px) {
  if (o.kind === 'mask') return maskRuns(o.canvas).area;
  let n = 0;
  for (let row = px.first; row < px.end; row++) {
    const r = px.runs(row);
    for (let k = 0; k < r.length; k += 2) n += r[k + 1] - r[k];
  }
  return n;
}

/** True when every pixel of `own` is in one of `above` (and it has a pixel at all). */
function coveredBy(own, above) {
  let any = false;
  for (let row = own.first; row < own.end; row++) {
    const mine = own.runs(row);
    if (!mine.length) continue;
    any = true;
    const others = [];
    for (const a of above) {
      if (row < a.first || row >= a.end) continue;
      const r = a.runs(row);
      for (let k = 0; k < r.length; k += 2) others.push([r[k], r[k + 1]]);
    }
    others.sort((p, q) => p[0] - q[0]);
    for (let k = 0; k < mine.length; k += 2) {
      let reach = mine[k];
      for (const [s, e] of others) {
        if (s > reach) break;
        if (e > reach) reach = e;
        if (reach >= mine[k + 1]) break;
      }
      if (reach < mine[k + 1]) return false;
    }
  }
  return any;
}

function signature(objects, width, height) {
  const parts = [width, height];
  for (const o of objects) {
    let shape;
    if (o.kind === 'mask') {
      if (!serials.has(o.canvas)) serials.set(o.canvas, nextSerial++);
      shape = `m${serials.get(o.canvas)}.${o.canvas._v}`;
    } else {
      let sum = 0;
      o.polygon.forEach(([x, y], i) => { sum += (x * 7.31 + y * 3.17) * (i + 1); });
      shape = `p${o.polygon.length}.${sum}`;
    }
    parts.push(`${o.id}:${o.z}:${shape}`);
  }
  return parts.join('|');
}

/** {area: Map id -> pixels, covered: Set of ids wholly under the objects above them, checked:
 * whether the covering was worked out (not with more than MAX_CHECKED objects)}. */
export function objectPixels(objects, width, height) {
  const sig = signature(objects, width, height);
  if (sig === last.sig) return last.result;
  const sorted = byZ(objects).map((o) => ({ o, px: pixelsOf(o, width, height) }));
  const area = new Map(sorted.map(({ o, px }) => [o.id, areaOf(o, px)]));
  const covered = new Set();
  const checked = sorted.length <= MAX_CHECKED;
  if (checked) {
    sorted.forEach(({ o, px }, i) => {
      if (!area.get(o.id)) return;
      const above = sorted.slice(i + 1).map((a) => a.px).filter((a) => a.first < px.end && a.end > px.first);
      if (above.length && coveredBy(px, above)) covered.add(o.id);
    });
  }
  last = { sig, result: { area, covered, checked } };
  return last.result;
}
