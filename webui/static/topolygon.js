// Mask -> polygons for "to polygon" and "Accept as polygon". Polygons cannot hold holes, and
// simplifying moves boundary pixels: the server counts both, and nothing changes silently.
// With holes the user chooses (fill them, or keep the mask); otherwise the change is reported.
// A speckled mask (thousands of separate parts) gives at most MAX_POLYGONS, the largest, and
// only once the user has said so.

import { api } from './api.js';
import { maskToBoxRuns } from './mask/boxruns.js';
import { choose } from './dialog.js';

export const MAX_POLYGONS = 50;   // the most objects one mask becomes

const count = (n) => n.toLocaleString('en-US');

/** Polygons for the mask canvas, or null when the mask should stay a mask (or on error). */
export async function maskToPolygons(app, canvas, tolerance) {
  let r;
  try {
    r = await api.polygonize(maskToBoxRuns(canvas), tolerance, MAX_POLYGONS);
  } catch (e) { app.flash(e.message); return null; }
  const polys = r.polygons.filter((p) => p.length >= 3);
  if (!polys.length) { app.flash('The mask gave no polygon; it stays a mask.'); return null; }
  if (r.dropped > 0) {
    const share = r.area ? Math.round((100 * (r.area - r.dropped_area)) / r.area) : 0;
    const pick = await choose(`The mask is in ${count(r.parts)} separate parts`,
      `As polygons it would be ${count(r.parts)} objects. The ${polys.length} largest parts hold ` +
      `${share}% of its pixels; the other ${count(r.dropped)} (${count(r.dropped_area)} px) would be ` +
      'left out. Keep it as one mask to keep every pixel.',
      [{ label: 'Keep as mask', value: 'mask' }, { label: `The ${polys.length} largest as polygons`, value: 'largest' }]);
    if (pick !== 'largest') { app.flash('Kept as a mask: no pixel changed.'); return null; }
  }
  if (r.holes > 0) {
    const pick = await choose('The mask has holes',
      `Polygons cannot have holes: converting fills ${r.holes} px of holes and changes ` +
      `${r.changed} px in all (of ${r.area} px). Keep it as a mask to keep every pixel.`,
      [{ label: 'Keep as mask', value: 'mask' }, { label: `Fill holes (${r.changed} px change)`, value: 'fill' }]);
    if (pick !== 'fill') { app.flash('Kept as a mask: no pixel changed.'); return null; }
  }
  const parts = polys.length > 1 ? `${polys.length} polygons` : 'a polygon';
  if (r.dropped > 0) {
    app.flash(`Now ${parts}: the ${count(r.dropped)} smaller parts (${count(r.dropped_area)} px) were left out.`);
  } else if (r.holes === 0 && r.changed > 0) {
    app.flash(`Now ${parts}: simplifying (${tolerance} px) changed ${r.changed} px of the outline; 0 keeps every pixel.`);
  } else if (polys.length > 1) app.flash(`The mask became ${parts}.`);
  return polys;
}
