// Small pictures for the object list: the image under the object's box with the object's pixels
// in its label colour. Each is drawn once per shape and colour; large boxes are drawn from a
// copy of the image at most 512 px a side.

import { state, labelColor } from '../state.js';
import { objectBox } from '../objects.js';

export const THUMB_W = 36, THUMB_H = 24;
const SMALL = 512;
let cache = new Map();   // `${shape key}|${colour}` -> canvas, for the open image
let forImage = null, small = null;

function canvasOf(w, h) {
  const c = document.createElement('canvas');
  c.width = w; c.height = h;
  return c;
}

/** The open image at most SMALL px a side: {canvas, k (its scale)}. */
function reduced() {
  if (small && small.image === state.image) return small;
  const k = Math.min(1, SMALL / Math.max(state.width, state.height));
  const c = canvasOf(Math.max(1, Math.round(state.width * k)), Math.max(1, Math.round(state.height * k)));
  c.getContext('2d').drawImage(state.image, 0, 0, c.width, c.height);
  small = { image: state.image, canvas: c, k };
  return small;
}

function draw(o, color) {
  const t = canvasOf(THUMB_W, THUMB_H);
  const box = objectBox(o);
  if (!box || !state.image) return t;
  const pad = 0.1 * Math.max(box[2] - box[0], box[3] - box[1], 4);
  const x0 = Math.max(0, box[0] - pad), y0 = Math.max(0, box[1] - pad);
  const x1 = Math.min(state.width, box[2] + pad), y1 = Math.min(state.height, box[3] + pad);
  const s = Math.min(THUMB_W / (x1 - x0), THUMB_H / (y1 - y0));
  const dx = (THUMB_W - (x1 - x0) * s) / 2, dy = (THUMB_H - (y1 - y0) * s) / 2;
  const g = t.getContext('2d');
  const src = (x1 - x0) * (y1 - y0) > SMALL * SMALL ? reduced() : { canvas: state.image, k: 1 };
  g.drawImage(src.canvas, x0 * src.k, y0 * src.k, (x1 - x0) * src.k, (y1 - y0) * src.k,
    dx, dy, (x1 - x0) * s, (y1 - y0) * s);
  const layer = canvasOf(THUMB_W, THUMB_H), lg = layer.getContext('2d');
  lg.setTransform(s, 0, 0, s, dx - x0 * s, dy - y0 * s);
  lg.fillStyle = color;
  if (o.kind === 'mask') {
    lg.drawImage(o.canvas, o.canvas._x || 0, o.canvas._y || 0);
    lg.setTransform(1, 0, 0, 1, 0, 0);
    lg.globalCompositeOperation = 'source-in';
    lg.fillRect(0, 0, THUMB_W, THUMB_H);
  } else {
    lg.beginPath();
    o.polygon.forEach(([x, y], i) => (i ? lg.lineTo(x, y) : lg.moveTo(x, y)));
    lg.closePath();
    lg.fill();
  }
  g.globalAlpha = 0.65;
  g.drawImage(layer, 0, 0);
  return t;
}

/** The thumbnail canvas of object o whose shape key is `key`, drawn now unless `onlyKept`
 * (then null when not drawn yet). */
export function objectThumb(o, key, onlyKept = false) {
  if (forImage !== state.image) { cache = new Map(); forImage = state.image; }
  const id = `${key}|${labelColor(o.label_id)}`;
  if (!cache.has(id)) {
    if (onlyKept) return null;
    cache.set(id, draw(o, labelColor(o.label_id)));
  }
  return cache.get(id);
}

/** Forgets the thumbnails of shapes no longer in `objects`. */
export function keepThumbs(objects, keyOf) {
  const used = new Set(objects.map((o) => `${keyOf(o)}|${labelColor(o.label_id)}`));
  for (const id of cache.keys()) if (!used.has(id)) cache.delete(id);
}
