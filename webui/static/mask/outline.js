// The outline of a mask canvas (alpha = inside): its inside pixels within `t` image pixels of
// the outside (the mask minus its erosion), tinted; for the outline-only view and for labels
// too dark to see as a fill. Made over the mask's box only (cheap on big photos) and cached
// per canvas version, colour and thickness; a canvas made by a brush or eraser stroke from one
// whose outline was made redoes only the stroke's box of it (taking that outline's canvas over).

import { maskBBox, lineageKey, lineageParent } from './canvas.js';

const cache = new WeakMap();   // mask canvas -> {key, canvas, x, y, color, t}
const recent = new Map();      // lineageKey -> the same, for the last few canvases outlined
const RECENT = 8;

/** Draws the outline of mask c over image rect r into `out` (which sits at image point ox, oy). */
function outlineInto(out, ox, oy, c, color, t, r) {
  const [rx0, ry0, rx1, ry1] = r;
  const w = rx1 - rx0, h = ry1 - ry0;
  const cx = (c._x || 0) - rx0, cy = (c._y || 0) - ry0;
  const eroded = document.createElement('canvas');
  eroded.width = w; eroded.height = h;
  const e = eroded.getContext('2d');
  e.drawImage(c, cx, cy);
  e.globalCompositeOperation = 'destination-in';
  for (const [dx, dy] of [[t, 0], [-t, 0], [0, t], [0, -t]]) e.drawImage(c, cx + dx, cy + dy);
  const part = document.createElement('canvas');
  part.width = w; part.height = h;
  const g = part.getContext('2d');
  g.drawImage(c, cx, cy);
  g.globalCompositeOperation = 'source-in';   // (not tinted(): that caches one colour a mask)
  g.fillStyle = color;
  g.fillRect(0, 0, w, h);
  g.globalCompositeOperation = 'destination-out';
  g.drawImage(eroded, 0, 0);
  const o = out.getContext('2d');
  o.clearRect(rx0 - ox, ry0 - oy, w, h);
  o.drawImage(part, rx0 - ox, ry0 - oy);
}

/** {canvas, x, y}: the outline to draw at image point (x, y), or null for an empty mask.
 * (A mask canvas may sit at image point (c._x, c._y); the w x h image clips the outline.) */
export function maskOutline(c, color, t, imageW, imageH) {
  const key = `${c._v}|${color}|${t}`;
  const hit = cache.get(c);
  if (hit && hit.key === key && !hit.stale) return hit;
  const box = maskBBox(c);
  if (!box) return null;
  const x = Math.max(0, box[0] - t), y = Math.max(0, box[1] - t);
  const w = Math.min(imageW, box[2] + t) - x, h = Math.min(imageH, box[3] + t) - y;
  const parent = lineageParent(c);
  const before = parent && recent.get(parent.key);
  let canvas;
  if (before && !before.stale && before.color === color && before.t === t && before.x === x && before.y === y
      && before.canvas.width === w && before.canvas.height === h) {
    before.stale = true;   // its canvas is this one's now
    recent.delete(parent.key);
    canvas = before.canvas;
    const [px0, py0, px1, py1] = parent.rect;
    const r = [Math.max(x, Math.floor(px0) - t), Math.max(y, Math.floor(py0) - t),
      Math.min(x + w, Math.ceil(px1) + t), Math.min(y + h, Math.ceil(py1) + t)];
    if (r[2] > r[0] && r[3] > r[1]) outlineInto(canvas, x, y, c, color, t, r);
  } else {
    canvas = document.createElement('canvas');
    canvas.width = w; canvas.height = h;
    outlineInto(canvas, x, y, c, color, t, [x, y, x + w, y + h]);
  }
  const made = { key, canvas, x, y, color, t };
  cache.set(c, made);
  recent.set(lineageKey(c), made);
  if (recent.size > RECENT) recent.delete(recent.keys().next().value);
  return made;
}
