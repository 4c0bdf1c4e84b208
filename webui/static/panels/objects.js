// The object list: the open image's objects, top of the z-order first, with their actions.

import { state, labelColor } from '../state.js';
import { el } from './dom.js';

export function renderObjects(app) {
  const list = document.getElementById('object-list');
  document.getElementById('object-count').textContent = `(${state.objects.length})`;
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
    el('span', { class: 'swatch', style: `background:${labelColor(o.label_id)}` }),
    el('span', { class: 'kind', title: o.kind }, o.kind === 'polygon' ? 'P' : 'M'),
    select,
    btn('hide', o.hidden ? 'Show' : 'Hide', 'Hide / show (H)'),
    btn('delete', '\u2715', 'Delete (Del)'),
    el('div', { class: 'actions' },
    el('span', { class: 'z', title: 'z-order (drawn in ascending z)' }, `z ${o.z}`),
    btn('up', '+', 'Up one in z-order (+)'),
    btn('down', '\u2212', 'Down one in z-order (-)'),
    btn('front', 'To front', 'To front'),
    btn('back', 'To back', 'To back'),
    btn('convert', o.kind === 'polygon' ? 'to mask' : 'to polygon',
      o.kind === 'polygon' ? 'Convert to mask' : 'Convert to polygons (simplify tolerance from Tool options)')));
  });
  list.replaceChildren(...rows);
}
