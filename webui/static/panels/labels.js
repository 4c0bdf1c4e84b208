// The Labels panel: rename, recolour, reorder (the class index follows), delete (saying what
// happens to its objects), add from a label file; show / hide and lock per label (view settings).

import { state, emit } from '../state.js';
import { api } from '../api.js';
import { choose } from '../dialog.js';
import * as autosave from '../autosave.js';
import { savePrefs } from '../prefs.js';

const $ = (id) => document.getElementById(id);

function button(action, text, title, pressed) {
  const b = document.createElement('button');
  b.dataset.action = action;
  b.textContent = text;
  b.title = title;
  if (pressed !== undefined) { b.setAttribute('aria-pressed', String(pressed)); b.classList.toggle('on', pressed); }
  return b;
}

export function renderLabelPanel(app) {
  const list = $('label-list');
  list.replaceChildren(...state.labels.map((l, i) => {
    const li = document.createElement('li');
    li.dataset.labelId = l.id;
    const index = document.createElement('span');
    index.className = 'index';
    index.textContent = String(i + 1);
    index.title = `class index ${i + 1} in exports (0 is background)`;
    const color = document.createElement('input');
    color.type = 'color';
    color.value = l.color;
    color.title = 'Colour';
    color.addEventListener('change', () => { color.blur(); update(app, l, { color: color.value }); });
    const name = document.createElement('input');
    name.className = 'label-name';
    name.value = l.name;
    name.title = 'Name (Enter to rename)';
    name.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') name.blur();
      if (e.key === 'Escape') { name.value = l.name; name.blur(); }
    });
    name.addEventListener('change', () => {
      const v = name.value.trim();
      if (v && v !== l.name) update(app, l, { name: v });
      else name.value = l.name;
    });
    const hidden = state.hiddenLabels.has(l.id), locked = state.lockedLabels.has(l.id);
    li.classList.toggle('hidden-label', hidden);
    li.append(index, color, name,
      button('toggle-hidden', hidden ? 'show' : 'hide', 'Show / hide its objects on the canvas (they are still exported)', hidden),
      button('toggle-lock', locked ? 'unlock' : 'lock', 'Lock: its objects cannot be selected, edited, erased or deleted', locked),
      button('up', '\u2191', 'Up one (class index - 1)'),
      button('down', '\u2193', 'Down one (class index + 1)'),
      button('delete', '\u2715', 'Delete this label'));
    li.addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (b) labelAction(app, l, b.dataset.action, i);
    });
    return li;
  }));
}

async function update(app, label, changes) {
  try {
    await api.updateLabel(label.id, changes);
    state.labels = (await api.labels()).labels;
  } catch (e) { app.flash(e.message); }
  emit('labels');
  app.view.render();
}

async function labelAction(app, label, action, i) {
  switch (action) {
    case 'toggle-hidden': toggle(state.hiddenLabels, label.id); break;
    case 'toggle-lock': toggle(state.lockedLabels, label.id); break;
    case 'up': if (i > 0) await update(app, label, { position: i - 1 }); return;
    case 'down': if (i < state.labels.length - 1) await update(app, label, { position: i + 1 }); return;
    case 'delete': await deleteLabel(app, label); return;
    default: return;
  }
  savePrefs();
  emit('labels');
  app.view.render();
}

function toggle(set, id) {
  if (set.has(id)) set.delete(id); else set.add(id);
}

async function deleteLabel(app, label) {
  await autosave.flush();   // the count must include what this page has not saved yet
  let usage;
  try { usage = await api.labelUsage(label.id); } catch (e) { app.flash(e.message); return; }
  const others = state.labels.filter((l) => l.id !== label.id);
  const target = others.find((l) => l.id === state.currentLabelId) || others[0];
  let choice;
  if (usage.objects === 0) {
    choice = await choose(`Delete the label "${label.name}"?`,
      'No object uses it. The labels after it move up one class index.',
      [{ label: 'Delete label', value: 'label' }]);
  } else {
    const what = `${usage.objects} object(s) on ${usage.images} image(s)`;
    choice = await choose(`Delete the label "${label.name}"?`,
      `It is used by ${what}. Delete them with the label, or move them to ` +
      `${target ? `"${target.name}"` : 'another label'} first. The labels after it move up one class index.`,
      [{ label: `Delete label and its ${usage.objects} object(s)`, value: 'delete' },
        ...(target ? [{ label: `Move them to "${target.name}"`, value: 'relabel' }] : [])]);
  }
  if (!choice) return;
  let r;
  try {
    r = await api.deleteLabel(label.id, choice === 'label' ? null : choice, choice === 'relabel' ? target.id : null);
  } catch (e) { app.flash(e.message); return; }
  state.labels = r.labels;
  state.hiddenLabels.delete(label.id);
  state.lockedLabels.delete(label.id);
  if (state.currentLabelId === label.id) state.currentLabelId = target ? target.id : null;
  savePrefs();
  emit('labels');
  app.flash(r.objects ? `Deleted "${label.name}"; ${r.objects} object(s) ${choice === 'relabel' ? `moved to "${target.name}"` : 'deleted'}.`
    : `Deleted "${label.name}".`);
  if (r.images.length) {   // their objects changed on the server: load them again
    const imgs = await api.images();
    state.images = imgs.images;
    emit('images');
    if (r.images.includes(state.imageName)) { autosave.resetSaves(); await app.openImage(state.imageName); }
  }
}

async function importFile(app, file) {
  let text;
  try { text = await file.text(); } catch (e) { app.flash(`Cannot read ${file.name}.`); return; }
  let r;
  try { r = await api.importLabels(text); } catch (e) { app.flash(e.message); return; }
  state.labels = r.labels;
  emit('labels');
  app.flash(r.added.length ? `Added ${r.added.length} label(s) from ${file.name}: ${r.added.join(', ')}.`
    : `${file.name}: every label is there already.`);
}

export function setupLabelPanel(app) {
  $('label-file').addEventListener('change', (e) => {
    const f = e.target.files[0];
    e.target.value = '';
    e.target.blur();
    if (f) importFile(app, f);
  });
  $('btn-label-file').addEventListener('click', () => $('label-file').click());
}
