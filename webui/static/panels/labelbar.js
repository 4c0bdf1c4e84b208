// The label bar: one button per label (1-9 pick the first nine, L any by typing its name in a
// small filter box); the new label's colour picker offers a colour apart from those in use.
// The Labels panel is labels.js.

import { state } from '../state.js';
import { api } from '../api.js';
import { el } from './dom.js';

const $ = (id) => document.getElementById(id);

export function renderLabels(app) {
  const box = $('labels');
  box.replaceChildren(...state.labels.map((l, i) => el('button', {
    class: 'label-btn' + (l.id === state.currentLabelId ? ' active' : ''),
    'data-label-id': l.id,
    title: i < 9 ? `${l.name} (${i + 1})` : `${l.name} (L, then its name)`,
    onclick: () => app.setLabel(l.id),
  }, el('span', { class: 'swatch', style: `background:${l.color}` }),
  l.name, i < 9 ? el('span', { class: 'key' }, String(i + 1)) : '')));
  offerColor();
}

/** The key that picks a label: its number for the first nine, else "L" (type its name). */
export function labelKey(labelId) {
  const i = state.labels.findIndex((l) => l.id === labelId);
  return i >= 0 && i < 9 ? String(i + 1) : 'L';
}

// ---- the new label's colour ---------------------------------------------------------------
// The picker shows the colour the server gives a label made without one (GET /api/labels'
// next_color); one the user chose is sent as chosen.
function picker() { return $('new-label-color'); }

let offeredFor = null;   // the label colours the offer was made for

function offerColor() {
  const p = picker();
  const colors = state.labels.map((l) => l.color).join();
  if (!p || p.dataset.chosen || colors === offeredFor) return;
  offeredFor = colors;
  if (!p.dataset.listening) {
    p.dataset.listening = '1';
    p.addEventListener('input', () => { p.dataset.chosen = '1'; });
  }
  api.labels().then((r) => { if (!p.dataset.chosen && r.next_color) p.value = r.next_color; }).catch(() => {});
}

/** The colour to send for a new label: the one the user chose, else null (the server picks). */
export function takeNewLabelColor() {
  const p = picker();
  const chosen = p && p.dataset.chosen ? p.value : null;
  if (p) delete p.dataset.chosen;
  return chosen;
}

// ---- quick-pick by name (L) ---------------------------------------------------------------
function matching(text) {
  const t = text.trim().toLowerCase();
  if (!t) return state.labels;
  const starts = state.labels.filter((l) => l.name.toLowerCase().startsWith(t));
  const inside = state.labels.filter((l) => !starts.includes(l) && l.name.toLowerCase().includes(t));
  return [...starts, ...inside];
}

function pickBox(app) {
  let box = $('label-pick');
  if (box) return box;
  box = el('div', { id: 'label-pick', role: 'dialog', 'aria-label': 'Pick a label by name' });
  const input = el('input', { id: 'label-pick-input', placeholder: 'label name, Enter picks', autocomplete: 'off' });
  const list = el('ul', { id: 'label-pick-list' });
  box.append(input, list);
  box.hidden = true;
  document.body.append(box);
  let active = 0;
  const render = () => {
    const found = matching(input.value);
    active = Math.max(0, Math.min(active, found.length - 1));
    list.replaceChildren(...found.map((l, i) => el('li', {
      class: i === active ? 'active' : '', 'data-label-id': l.id,
      onmousedown: (e) => { e.preventDefault(); close(l); },
    }, el('span', { class: 'swatch', style: `background:${l.color}` }), l.name)));
    return found;
  };
  const close = (label) => {
    box.hidden = true;
    input.blur();
    if (label) app.setLabel(label.id);
  };
  input.addEventListener('input', () => { active = 0; render(); });
  input.addEventListener('blur', () => { box.hidden = true; });
  input.addEventListener('keydown', (e) => {
    e.stopPropagation();
    const found = matching(input.value);
    if (e.key === 'Enter') { e.preventDefault(); close(found[active]); }
    else if (e.key === 'Escape') { e.preventDefault(); close(null); }
    else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      active = (active + (e.key === 'ArrowDown' ? 1 : -1) + found.length) % Math.max(1, found.length);
      render();
    }
  });
  box.renderList = render;
  return box;
}

/** Opens the quick-pick box: type part of a label's name, Enter picks the first (or arrowed) match. */
export function openLabelPick(app) {
  if (!state.labels.length) { app.flash('There are no labels yet: add one in the label bar.'); return; }
  const box = pickBox(app);
  const input = $('label-pick-input');
  input.value = '';
  box.hidden = false;
  box.renderList();
  input.focus();
}
