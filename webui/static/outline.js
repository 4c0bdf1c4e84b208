// The outline of a mask canvas (alpha = inside): its inside pixels that are within `t` image
// pixels of the outside (mask minus its erosion), tinted, for the outline-only view and for
// labels too dark to see as a fill. Cached per canvas version, colour and thickness.

import { tinted } from './objects.js';

const cache = new WeakMap();   // mask canvas -> {key, canvas}

export function maskOutline(c, color, t) {
  const key = `${c._v}|${color}|${t}`;
  const hit = cache.get(c);
  if (hit && hit.key === key) return hit.canvas;
  const eroded = document.createElement('canvas');
  eroded.width = c.width; eroded.height = c.height;
  const e = eroded.getContext('2d');
  e.drawImage(c, 0, 0);
  e.globalCompositeOperation = 'destination-in';
  for (const [dx, dy] of [[t, 0], [-t, 0], [0, t], [0, -t]]) e.drawImage(c, dx, dy);
  const out = (hit && hit.canvas.width === c.width && hit.canvas.height === c.height)
    ? hit.canvas : document.createElement('canvas');
  out.width = c.width; out.height = c.height;
  const g = out.getContext('2d');
  g.globalCompositeOperation = 'copy';
  g.drawImage(tinted(c, color), 0, 0);
  g.globalCompositeOperation = 'destination-out';
  g.drawImage(eroded, 0, 0);
  g.globalCompositeOperation = 'source-over';
  cache.set(c, { key, canvas: out });
  return out;
}
