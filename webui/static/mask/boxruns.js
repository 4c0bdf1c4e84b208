// The API's mask form {box: [x0, y0, x1, y1], runs: [outside, inside, ...]} <-> mask canvases,
// and the reduced previews of big masks.

import { makeCanvas, ctx2d, colorWord, setBBox, maskBBox, lineageKey, lineageParent } from './canvas.js';

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

/** The full-resolution mask canvas of a preview made by maskPreview or lazyPreview. */
export function previewMask(p) {
  if (p.full) return p.full;
  return p.canvas._step > 1 ? maskFromBoxRuns(p.mask, p.canvas._color) : p.canvas;
}

/** A preview {mask, canvas, full} of an API mask whose canvases are made only when read: the
 * view draws the mask's runs at the screen's resolution itself (screenpreview.js), so a click
 * decodes nothing until Enter asks for `full` (full resolution); `canvas` is maskPreview's. */
export function lazyPreview(m, color, scale) {
  let canvas = null, full = null;
  const coarse = Math.floor(1 / Math.max(scale, 1e-3)) > 1;
  return {
    mask: m,
    get canvas() { return canvas || (canvas = coarse ? maskPreview(m, color, scale).canvas : this.full); },
    get full() { return full || (full = canvas && !canvas._step ? canvas : maskFromBoxRuns(m, color)); },
  };
}

/** The run lengths of an answer's "runs_leb128" (base64 of unsigned LEB128 bytes: 7 bits a
 * byte, low first, the high bit set when more follow) as a Uint32Array. */
export function decodeLeb128Runs(b64) {
  const bin = atob(b64);
  const out = new Uint32Array(bin.length);   // at most one value a byte
  let n = 0, cur = 0, scale = 1;
  for (let i = 0; i < bin.length; i++) {
    const b = bin.charCodeAt(i);
    cur += (b & 0x7f) * scale;   // (not <<: values may pass 2**31)
    if (b & 0x80) scale *= 128;
    else { out[n++] = cur; cur = 0; scale = 1; }
  }
  return out.subarray(0, n);
}

/** An API mask in the box-runs form {box, runs}, whether its runs came as a list or as
 * "runs_leb128" (the compact form of predict answers). */
export function answerMask(m) {
  return m && m.runs_leb128 !== undefined ? { box: m.box, runs: decodeLeb128Runs(m.runs_leb128) } : m;
}

/** Row-major runs (outside first) of the pixels of an RGBA word array (inside: alpha >= 128). */
function runsOf(px) {
  const runs = [];
  let cur = false, n = 0;
  for (let i = 0; i < px.length; i++) {
    const on = (px[i] >>> 24) >= 128;
    if (on !== cur) { runs.push(n); n = 0; cur = on; }
    n++;
  }
  runs.push(n);
  return runs;
}

/** {box: rect, runs} of a mask canvas's pixels over rect [x0, y0, x1, y1] (image pixels, whole
 * numbers; what lies outside the canvas is outside): the box is the rect, not tight. */
export function regionToBoxRuns(c, rect) {
  const [x0, y0, x1, y1] = rect;
  if (x1 <= x0 || y1 <= y0) return { box: [x0, y0, x0, y0], runs: [] };
  const px = new Uint32Array(ctx2d(c).getImageData(x0 - c._x, y0 - c._y, x1 - x0, y1 - y0).data.buffer);
  return { box: [x0, y0, x1, y1], runs: runsOf(px) };
}

const runsCache = new WeakMap();
const recent = new Map();   // lineageKey -> box-runs of the last few canvases encoded
const RECENT = 8;

/** The API form {box, runs} of a mask canvas (tight box; cached per canvas version). A canvas
 * made by a stroke from one encoded before reuses its runs outside the stroke's rows. */
export function maskToBoxRuns(c) {
  const hit = runsCache.get(c);
  if (hit && hit.v === c._v) return hit.value;
  const box = maskBBox(c);
  const parent = box && lineageParent(c);
  const before = parent && recent.get(parent.key);
  const value = (before && spliced(c, box, before, parent.rect))
    || (box ? regionToBoxRuns(c, box) : { box: [0, 0, 0, 0], runs: [] });
  runsCache.set(c, { v: c._v, value });
  recent.set(lineageKey(c), value);
  if (recent.size > RECENT) recent.delete(recent.keys().next().value);
  return value;
}

/** The box-runs of canvas c (tight box `box`) from those of the canvas it was derived from
 * (`before`, the same pixels outside rect): only the rows of rect are read; null when the
 * boxes differ (the raster of the runs changed). */
function spliced(c, box, before, rect) {
  const [x0, y0, x1, y1] = box;
  const b = before.box;
  if (b[0] !== x0 || b[1] !== y0 || b[2] !== x1 || b[3] !== y1) return null;
  const ry0 = Math.max(y0, Math.floor(rect[1])), ry1 = Math.min(y1, Math.ceil(rect[3]));
  if (ry1 <= ry0) return before;
  const w = x1 - x0, start = (ry0 - y0) * w, stop = (ry1 - y0) * w;
  const band = regionToBoxRuns(c, [x0, ry0, x1, ry1]).runs;
  const out = [];
  const emit = (n, inside) => {
    if (!n) return;
    if (!out.length) { if (inside) out.push(0); out.push(n); return; }
    if (((out.length - 1) & 1) === (inside ? 1 : 0)) out[out.length - 1] += n;
    else out.push(n);
  };
  const emitBand = () => { for (let k = 0; k < band.length; k++) emit(band[k], k & 1); };
  let pos = 0, bandDone = false;
  const runs = before.runs;
  for (let k = 0; k < runs.length; k++) {
    const a = pos, e = pos + runs[k];
    if (a < start) emit(Math.min(e, start) - a, k & 1);
    if (e > stop) {
      if (!bandDone) { emitBand(); bandDone = true; }
      emit(e - Math.max(a, stop), k & 1);
    }
    pos = e;
  }
  if (!bandDone) emitBand();
  return { box: [x0, y0, x1, y1], runs: out };
}
