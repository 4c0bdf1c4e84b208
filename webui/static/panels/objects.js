// The object list: the open image's objects, top of the z-order first, with their actions. Each
// row has the object's number (in the order they were made), a thumbnail, its area, and a mark
// when the objects above it cover it entirely.

import { state, labelColor } from '../state.js';
import { objectPixelsSoon, shapeKey } from '../coverage.js';
import { objectThumb, keepThumbs } from './objectthumbs.js';
import { el } from './dom.js';
import { propagatedFrom } from '../tools/propagate.js';

const COVERED = 'Fully covered by the objects above it: none of its pixels shows in the exported masks. '
  + 'Move it up (+ or Front), or change the objects above it.';

/** Writes the areas and covered marks into the rows in place (a row being clicked stays). */
function showPixels(list, { area, covered, fresh }) {
  list.dataset.pixels = fresh ? 'known' : 'working';
  const byId = new Map(state.objects.map((o) => [o.id, o]));
  if (fresh) keepThumbs(state.objects, shapeKey);
  for (const li of list.children) {
    const o = byId.get(li.dataset.id);
    const thumb = o && objectThumb(o, shapeKey(o), !fresh);   // new pictures wait for the moment after
    if (thumb) li.querySelector('.thumb').replaceChildren(thumb);
    const px = area.get(li.dataset.id);
    const hidden = covered.has(li.dataset.id);
    li.dataset.area = px ?? '';
    li.querySelector('.area').textContent = px === undefined ? '\u2026 px' : `${px.toLocaleString('en-US')} px`;
    li.classList.toggle('covered', hidden);
    const mark = li.querySelector('.covered-mark');
    if (hidden && !mark) li.querySelector('select').after(el('span', { class: 'covered-mark', title: COVERED }, '\u26a0 covered'));
    else if (!hidden && mark) mark.remove();
  }
}

export function renderObjects(app) {
  const list = document.getElementById('object-list');
  document.getElementById('object-count').textContent = `(${state.objects.length})`;
  const pixels = () => objectPixelsSoon(state.objects, state.width, state.height, () => showPixels(list, pixels()));
  const number = new Map(state.objects.map((o, i) => [o.id, i + 1]));
  const rows = [...state.objects].sort((a, b) => b.z - a.z).map((o) => {
    const select = el('select', { 'data-action': 'label', title: 'Label' },
      ...state.labels.map((l) => {
        const opt = el('option', { value: l.id }, l.name);
        if (l.id === o.label_id) opt.selected = true;
        return opt;
      }));
    select.addEventListener('click', (e) => e.stopPropagation());
    select.addEventListener('change', () => { select.blur(); app.setObjectLabel(o.id, Number(select.value)); });
    const btn = (action, text, title) => el('button', {
      'data-action': action, title,
      onclick: (e) => { e.stopPropagation(); app.objectAction(o.id, action); },
    }, text);
    return el('li', {
      class: (o.id === state.selectedId ? 'selected' : '') + (o.hidden ? ' hidden-obj' : ''),
      'data-id': o.id, 'data-z': o.z,
      onclick: () => app.select(o.id),
    },
    el('span', { class: 'number', title: 'Object number (in the order they were made)' }, String(number.get(o.id))),
    el('span', { class: 'thumb' }),
    el('span', { class: 'swatch', style: `background:${labelColor(o.label_id)}` }),
    el('span', { class: 'kind', title: o.kind }, o.kind === 'polygon' ? 'P' : 'M'),
    select,
    ...(propagatedFrom(o) ? [el('span', { class: 'propagated-mark', title: `Propagated from ${propagatedFrom(o)}; editing it clears this mark`, 'aria-label': 'propagated' }, '\u21e2')] : []),
    btn('hide', o.hidden ? 'Show' : 'Hide', 'Hide / show (H)'),
    btn('delete', '\u2715', 'Delete (Del)'),
    el('div', { class: 'actions' },
    el('span', { class: 'z', title: 'z-order (drawn in ascending z)' }, `z ${o.z}`),
    el('span', { class: 'area', title: 'Area: the pixels it covers' }),
    btn('up', '+', 'Up one in z-order (+)'),
    btn('down', '\u2212', 'Down one in z-order (-)'),
    btn('front', 'Front', 'To the front of the z-order'),
    btn('back', 'Back', 'To the back of the z-order'),
    btn('convert', o.kind === 'polygon' ? 'to mask' : 'to polygon',
      o.kind === 'polygon' ? 'Convert to mask' : 'Convert to polygons (simplify tolerance from Tool options)')));
  });
  list.replaceChildren(...rows);
  showPixels(list, pixels());
}
