// Annotation objects: ids, z-order, hit testing and the API's JSON form. Their masks are
// mask/canvas.js (the pixels) and mask/boxruns.js (the API's form); polygons: geometry.js.

import { maskHas, maskBBox } from './mask/canvas.js';
import { maskFromBoxRuns, maskToBoxRuns } from './mask/boxruns.js';
import { pointInPolygon } from './geometry.js';

export function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function hitObject(o, x, y) {
  if (o.kind === 'polygon') return pointInPolygon(o.polygon, x, y);
  return maskHas(o.canvas, x, y);
}

/** [x0, y0, x1, y1] of an object in image pixels (null for an empty mask). */
export function objectBox(o) {
  if (o.kind === 'mask') return maskBBox(o.canvas);
  const xs = o.polygon.map((p) => p[0]), ys = o.polygon.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
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
  if (j.propagated) o.propagated = j.propagated;   // the image Propagate sent it from (tools/propagate.js)
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
