// The outline of a mask canvas (alpha = inside): its inside pixels within `t` image pixels of
// the outside (the mask minus its erosion), tinted; for the outline-only view and for labels
// too dark to see as a fill. Made over the mask's box only (cheap on big photos) and cached
// per canvas version, colour and thickness.

import { maskBBox } from './canvas.js';

const cache = new WeakMap();   // mask canvas -> {key, canvas, x, y}

/** {canvas, x, y}: the outline to draw at image point (x, y), or null for an empty mask.
 * (A mask canvas may sit at image point (c._x, c._y); the w x h image clips the outline.) */
export function maskOutline(c, color, t, imageW, imageH) {
  const key = `${c._v}|${color}|${t}`;
  const hit = cache.get(c);
  if (hit && hit.key === key) return hit;
  const box = maskBBox(c);
  if (!box) return null;
  const ox = c._x || 0, oy = c._y || 0;
  const x = Math.max(0, box[0] - t), y = Math.max(0, box[1] - t);
  const w = Math.min(imageW, box[2] + t) - x, h = Math.min(imageH, box[3] + t) - y;
  const eroded = document.createElement('canvas');
  eroded.width = w; eroded.height = h;
  const e = eroded.getContext('2d');
  e.drawImage(c, ox - x, oy - y);
  e.globalCompositeOperation = 'destination-in';
  for (const [dx, dy] of [[t, 0], [-t, 0], [0, t], [0, -t]]) e.drawImage(c, ox + dx - x, oy + dy - y);
  const out = document.createElement('canvas');
  out.width = w; out.height = h;
  const g = out.getContext('2d');
  g.drawImage(c, ox - x, oy - y);
  g.globalCompositeOperation = 'source-in';   // (not tinted(): that caches one colour a mask)
  g.fillStyle = color;
  g.fillRect(0, 0, w, h);
  g.globalCompositeOperation = 'destination-out';
  g.drawImage(eroded, 0, 0);
  const made = { key, canvas: out, x, y };
  cache.set(c, made);
  return made;
}
