// The side panels: label bar and object list (the image list is imagelist.js).

import { state, labelColor } from './state.js';

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'style') e.style.cssText = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

export function renderLabels(app) {
  const box = document.getElementById('labels');
  box.replaceChildren(...state.labels.map((l, i) => el('button', {
    class: 'label-btn' + (l.id === state.currentLabelId ? ' active' : ''),
    'data-label-id': l.id,
    title: i < 9 ? `${l.name} (${i + 1})` : l.name,
    onclick: () => app.setLabel(l.id),
  }, el('span', { class: 'swatch', style: `background:${l.color}` }),
  l.name, i < 9 ? el('span', { class: 'key' }, String(i + 1)) : '')));
}

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
