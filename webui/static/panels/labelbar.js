// The label bar: one button per label (1-9 pick the first nine); the Labels panel is labels.js.

import { state } from '../state.js';
import { el } from './dom.js';

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
