// The page's buttons, sliders and forms outside the panels: tools, zoom, undo / redo, image
// stepping, whole-image object, export, the model banner, help, the save conflict, tool options
// and the add-label form; focus goes back to the page after each, so shortcuts keep working.

import { state, emit } from './state.js';
import { api } from './api.js';
import * as autosave from './autosave.js';
import { takeNewLabelColor } from './panels/labelbar.js';
import { savePrefs } from './prefs.js';
import { openModelGet } from './modelget.js';
import { closeModelMessage } from './panels/status.js';

const $ = (id) => document.getElementById(id);

export function setBrushSize(app, v) {
  state.brushSize = Math.max(1, Math.min(200, Math.round(v)));
  $('brush-size').value = state.brushSize;
  $('brush-size-value').textContent = state.brushSize;
  savePrefs();
  app.view.render();
}

/** The zip of every saved image's annotations in the chosen format, then what it left out. */
async function exportZip(app) {
  await autosave.flush();
  const fmt = $('export-format').value;
  let blob, filename = `edgemask-${fmt}.zip`;
  try {
    const resp = await fetch(`/api/export/${encodeURIComponent(fmt)}`);
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      throw new Error(body.error || `Export failed with HTTP ${resp.status}.`);
    }
    const m = /filename="?([^";]+)"?/.exec(resp.headers.get('Content-Disposition') || '');
    if (m) filename = m[1];
    blob = await resp.blob();
  } catch (e) { app.flash(e.message); return; }
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  try {
    const plan = await api.exportPlan();
    const out = plan.left_out;
    const shown = out.slice(0, 5).map((e) => `${e.name} (${e.reason})`).join(', ');
    app.flash(`Exported ${plan.exported.length} images` + (out.length
      ? `; left out ${out.length}: ${shown}${out.length > 5 ? ` and ${out.length - 5} more (see left-out.txt in the zip)` : ''}.`
      : '.'), 10000);
  } catch (e) { app.flash(e.message); }
}

async function addLabel(app, ev) {
  ev.preventDefault();
  const name = $('new-label-name').value.trim();
  if (!name) return;
  try {
    const l = await api.addLabel(name, takeNewLabelColor());   // none chosen: the server picks one apart
    state.labels.push(l);
    state.currentLabelId = l.id;
    savePrefs();
    $('new-label-name').value = '';
    $('new-label-name').blur();   // shortcut keys go to the page again, not into the text box
    emit('labels');
  } catch (e) {
    app.flash(e.message);
    $('new-label-name').select();   // the refused name stays in view, and typing replaces it
  }
}

export function setupControls(app) {
  const { view } = app;
  for (const b of document.querySelectorAll('#tools button')) b.addEventListener('click', () => app.setTool(b.dataset.tool));
  $('btn-fit').addEventListener('click', () => view.fit());
  $('btn-one').addEventListener('click', () => view.oneToOne());
  $('btn-undo').addEventListener('click', () => app.undo());
  $('btn-redo').addEventListener('click', () => app.redo());
  $('btn-prev').addEventListener('click', () => app.step(-1));
  $('btn-next').addEventListener('click', () => app.step(1));
  $('btn-background').addEventListener('click', () => app.addBackground());
  $('btn-export').addEventListener('click', () => exportZip(app));
  $('btn-model-get').addEventListener('click', () => openModelGet(app));
  $('btn-model-message-close').addEventListener('click', closeModelMessage);
  $('btn-help').addEventListener('click', () => { $('help').hidden = false; });
  $('btn-help-close').addEventListener('click', () => { $('help').hidden = true; });
  $('btn-conflict-theirs').addEventListener('click', () => {
    autosave.resetSaves();
    app.openImage(state.imageName);
  });
  $('btn-conflict-mine').addEventListener('click', async () => {
    const name = state.imageName;
    let stored;
    try { stored = await api.annotations(name); } catch (e) { app.flash(e.message); return; }
    if (name !== state.imageName) return;
    await autosave.overwrite(stored.version);
  });
  $('brush-size').addEventListener('input', (e) => setBrushSize(app, Number(e.target.value)));
  $('wand-tolerance').addEventListener('input', (e) => app.setTolerance(Number(e.target.value)));
  $('opacity').addEventListener('input', (e) => { state.opacity = Number(e.target.value) / 100; savePrefs(); view.render(); });
  $('outline-only').addEventListener('change', (e) => { e.target.blur(); state.outlineOnly = e.target.checked; savePrefs(); view.render(); });
  $('paint-unlabelled').addEventListener('change', (e) => { e.target.blur(); state.paintUnlabelled = e.target.checked; savePrefs(); });
  $('add-label').addEventListener('submit', (ev) => addLabel(app, ev));
  // sliders and selects give the focus back once changed, so shortcuts keep working
  for (const c of document.querySelectorAll('#tool-options input[type=range], #tool-options select, #export-format')) {
    c.addEventListener('change', () => c.blur());
  }
  // a clicked button gives the focus back, so Space / Enter keep going to the canvas
  document.addEventListener('pointerup', (ev) => {
    const b = ev.target.closest && ev.target.closest('button');
    if (b) setTimeout(() => b.blur(), 0);
  });
  window.addEventListener('beforeunload', (ev) => {
    if (autosave.hasUnsaved()) { autosave.flush(); ev.preventDefault(); ev.returnValue = ''; }
  });
}

/** The tool options as loaded from the preferences. */
export function showPrefs() {
  $('brush-size').value = state.brushSize;
  $('brush-size-value').textContent = state.brushSize;
  $('opacity').value = Math.round(state.opacity * 100);
  $('outline-only').checked = state.outlineOnly;
  $('paint-unlabelled').checked = state.paintUnlabelled;
}
