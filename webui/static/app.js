// Entry point: wires state, API, view, tools, panels, keyboard and autosave.

import { state, emit, on, labelById, labelColor, byZ, isLocked, luminance } from './state.js';
import { api } from './api.js';
import { View } from './canvas.js';
import { History } from './history.js';
import * as autosave from './autosave.js';
import { renderLabels, renderObjects } from './panels.js';
import { renderImages, setupImageList, neighbour, doneNext, nextTodo } from './imagelist.js';
import { newId, fromJSON, extrasOf, topZ, bottomZ, polygonToMask, maskToDataURL, isEmptyMask } from './objects.js';
import { createPolygonEditor } from './tools/edit.js';
import { createSelectTool, topObjectAt } from './tools/select.js';
import { createPolygonTool } from './tools/polygon.js';
import { createRectTool } from './tools/rect.js';
import { createBrushTool } from './tools/brush.js';
import { createAiWandTool } from './tools/aiwand.js';
import { createWandTool } from './tools/wand.js';
import { maskToPolygons } from './topolygon.js';
import { dialogOpen } from './dialog.js';
import { renderLabelPanel, setupLabelPanel } from './labelpanel.js';
import { loadPrefs, savePrefs } from './prefs.js';
import { openModelGet } from './modelget.js';

const $ = (id) => document.getElementById(id);
const history = new History();
const canvasEl = $('canvas');
const view = new View(canvasEl);

let flashTimer = null;
let toolInfo = '';
let embedPromise = Promise.resolve();
let loadSeq = 0;
let modelMessageClosed = false;

const app = {
  view,

  /** Records the current object list as one undoable step and autosaves it. */
  commit() {
    byZ(state.objects).forEach((o, i) => { o.z = i; });
    history.push(state.objects);
    autosave.schedule();
    emit('objects');
    view.render();
  },

  select(id) {
    state.selectedId = id;
    emit('objects');
    view.render();
  },

  setLabel(id) {
    state.currentLabelId = id;
    savePrefs();
    emit('labels');
  },

  /** False (after saying why) when the object's label is locked. */
  unlocked(o) {
    if (!isLocked(o)) return true;
    const l = labelById(o.label_id);
    app.flash(`"${l ? l.name : 'Its label'}" is locked (Labels panel): unlock it to change its objects.`);
    return false;
  },

  /** The current label id, or null after telling the user to add one. */
  requireLabel() {
    if (labelById(state.currentLabelId)) return state.currentLabelId;
    app.flash('Add a label first (label bar, top right).');
    return null;
  },

  flash(msg, ms = 4000) {
    const info = $('stage-info');
    info.textContent = msg;
    info.classList.add('flash');
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { info.classList.remove('flash'); info.textContent = toolInfo; }, ms);
  },

  setToolInfo(msg) {
    toolInfo = msg;
    if (!$('stage-info').classList.contains('flash')) $('stage-info').textContent = msg;
  },

  embeddingReady() { return embedPromise; },

  getTolerance() { return Number($('wand-tolerance').value); },
  setTolerance(t) { $('wand-tolerance').value = t; $('wand-tolerance-value').textContent = t; },

  /** Turns an accepted preview mask into an object (mask, or polygons via the server). */
  async accept(canvas) {
    const label = app.requireLabel();
    if (label == null) return;
    if (isEmptyMask(canvas)) { app.flash('The mask is empty: nothing to add.'); return; }
    const polys = $('accept-as').value === 'polygon'
      ? await maskToPolygons(app, canvas, Number($('simplify').value)) : null;
    if (polys) {
      let z = topZ(state.objects);
      for (const poly of polys) {
        const obj = { id: newId(), label_id: label, kind: 'polygon', z: z++, hidden: false, polygon: poly };
        state.objects.push(obj);
        state.selectedId = obj.id;
      }
    } else {
      const obj = { id: newId(), label_id: label, kind: 'mask', z: topZ(state.objects), hidden: false, canvas };
      state.objects.push(obj);
      state.selectedId = obj.id;
    }
    app.commit();
  },

  setObjectLabel(id, labelId) {
    const o = state.objects.find((x) => x.id === id);
    if (!o || o.label_id === labelId) return;
    if (!app.unlocked(o)) { emit('objects'); return; }
    o.label_id = labelId;
    app.commit();
  },

  async objectAction(id, action) {
    const o = state.objects.find((x) => x.id === id);
    if (!o) return;
    if (action !== 'hide' && !app.unlocked(o)) return;
    const sorted = byZ(state.objects);
    const i = sorted.indexOf(o);
    switch (action) {
      case 'up': case 'down': {
        const other = sorted[action === 'up' ? i + 1 : i - 1];
        if (!other) return;
        [o.z, other.z] = [other.z, o.z];
        break;
      }
      case 'front': if (i === sorted.length - 1) return; o.z = topZ(state.objects); break;
      case 'back': if (i === 0) return; o.z = bottomZ(state.objects); break;
      case 'hide': o.hidden = !o.hidden; break;
      case 'delete':
        state.objects = state.objects.filter((x) => x !== o);
        if (state.selectedId === id) state.selectedId = null;
        break;
      case 'convert':
        if (o.kind === 'polygon') {
          o.canvas = polygonToMask(o.polygon, state.width, state.height);
          o.kind = 'mask';
          delete o.polygon;
        } else {
          const polys = await maskToPolygons(app, o.canvas, Number($('simplify').value));
          if (!polys) return;
          const at = state.objects.indexOf(o);
          if (at < 0) return;
          const pieces = polys.map((poly, k) => ({
            id: k === 0 ? o.id : newId(), label_id: o.label_id, kind: 'polygon', z: o.z, hidden: o.hidden, polygon: poly,
            ...extrasOf(o),
          }));
          state.objects.splice(at, 1, ...pieces);
        }
        break;
      default: return;
    }
    app.commit();
  },

  undo() { restore(history.undo()); },
  redo() { restore(history.redo()); },

  async openImage(name) {
    const seq = ++loadSeq;
    await autosave.flush();
    let ann, image;
    try {
      [ann, image] = await Promise.all([api.annotations(name), loadImage(api.imageUrl(name))]);
    } catch (e) { app.flash(e.message); return; }
    const objects = ann.objects.map((j) => fromJSON(j, labelColor(j.label_id)));
    await autosave.flush();   // edits made to the old image while this one loaded
    if (seq !== loadSeq) return;
    for (const t of Object.values(tools)) t.deactivate && t.deactivate();
    Object.assign(state, {
      imageName: name, image, width: ann.width, height: ann.height, version: ann.version,
      objects, selectedId: null, preview: null,
    });
    history.reset(objects);
    autosave.resetSaves();
    const entry = state.images.find((i) => i.name === name);
    if (entry) entry.objects = objects.length;   // the list agrees with what was loaded
    if (location.hash.slice(1) !== encodeURIComponent(name)) setHash(name);
    view.fit();
    emit('objects', 'images');
    startEmbedding(name);
  },

  /** Opens the previous (-1) / next (+1) image among those the list shows. */
  step(delta) {
    const name = neighbour(delta);
    if (name) app.openImage(name);
  },

  setTool(name) {
    if (name === 'aiwand' && !state.model.loaded) { openModelGet(app); return; }
    if (!tools[name] || name === state.tool) return;
    const old = tools[state.tool];
    if (old.deactivate) old.deactivate();
    state.tool = name;
    view.overlay = (ctx, v) => tools[state.tool].overlay && tools[state.tool].overlay(ctx, v);
    canvasEl.style.cursor = tools[name].cursor;
    emit('tool');
    view.render();
  },

  /** Asks the server which model it holds now (after the page fetched one) and starts using it. */
  async reloadModel() {
    state.model = await api.model();
    emit('model');
    if (state.imageName) startEmbedding(state.imageName);
  },

  addBackground() {
    const label = app.requireLabel();
    if (label == null || !state.image) return;
    const { width: w, height: h } = state;
    const obj = { id: newId(), label_id: label, kind: 'polygon', z: bottomZ(state.objects), hidden: false,
      polygon: [[0, 0], [w, 0], [w, h], [0, h]] };
    state.objects.push(obj);
    app.commit();
  },
};

/** The first view's one line: what to do first, while the open image has no objects. */
function updateHint() {
  const hint = $('first-hint');
  const show = !!state.image && state.objects.length === 0;
  hint.hidden = !show;
  if (!show) return;
  const l = labelById(state.currentLabelId);
  const draw = state.model.loaded ? 'click an object with the AI wand (S), or draw it: Polygon (P), Brush (B)'
    : 'draw an object: Polygon (P), Brush (B), colour Wand (W)';
  hint.textContent = `Pick a label (1-9; now "${l ? l.name : 'none'}"), ${draw}; Shift+D when the image is done. ? lists every key.`;
}

function setHash(name) {
  window.history.replaceState(null, '', '#' + encodeURIComponent(name));
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onerror = () => reject(new Error('Could not load the image ' + url));
    img.src = url;
    // decoded off the main thread now, not at the first draw
    img.decode().then(() => resolve(img), () => { if (img.complete && img.naturalWidth) resolve(img); });
  });
}

function restore(objects) {
  if (!objects) return;
  state.objects = objects;
  if (!state.objects.some((o) => o.id === state.selectedId)) state.selectedId = null;
  autosave.schedule();
  emit('objects');
  view.render();
}

function startEmbedding(name) {
  if (!state.model.loaded) { state.embedding = 'none'; emit('model'); return; }
  state.embedding = 'encoding';
  emit('model');
  const t0 = performance.now();
  embedPromise = api.embedding(name).then((r) => {
    if (state.imageName !== name) return;
    state.embedding = 'ready';
    state.embeddingInfo = `${r.cached ? 'cached' : 'encoded in ' + r.ms.toFixed(0) + ' ms'} (${(performance.now() - t0).toFixed(0)} ms round trip)`;
    emit('model');
  }, (e) => {
    if (state.imageName !== name) return;
    state.embedding = 'error';
    state.embeddingInfo = e.message;
    emit('model');
    throw e;
  });
  embedPromise.catch(() => {});
}

const editor = createPolygonEditor(app);
const tools = {
  select: createSelectTool(app, editor),
  polygon: createPolygonTool(app),
  rect: createRectTool(app),
  brush: createBrushTool(app, false),
  eraser: createBrushTool(app, true),
  aiwand: createAiWandTool(app),
  wand: createWandTool(app),
};
view.overlay = (ctx, v) => tools[state.tool].overlay && tools[state.tool].overlay(ctx, v);

// ---- panels and status -------------------------------------------------
on('labels', () => { renderLabels(app); renderObjects(app); renderLabelPanel(app); updateHint(); view.render(); });
on('images', () => renderImages(app));
on('objects', () => {
  renderObjects(app);
  updateHint();
  $('btn-undo').disabled = !history.canUndo;
  $('btn-redo').disabled = !history.canRedo;
});
on('tool', () => {
  for (const b of document.querySelectorAll('#tools button')) b.classList.toggle('active', b.dataset.tool === state.tool);
});
on('save', () => {
  const s = $('save-status');
  const text = { saved: 'saved', unsaved: 'unsaved', saving: 'saving...', error: 'save failed', conflict: 'conflict' }[state.save.status];
  s.textContent = text;
  s.className = 'status-' + state.save.status;
  s.title = state.save.message || 'Autosave state';
  if (state.save.status === 'error') app.flash('Saving failed: ' + state.save.message);
  $('conflict').hidden = state.save.status !== 'conflict';
  $('conflict-message').textContent = state.save.message;
});
on('model', () => {
  const m = state.model;
  const btn = document.querySelector('#tools button[data-tool="aiwand"]');
  btn.title = m.loaded ? `AI wand with ${m.name} (S)` : 'AI wand: no model yet, click to get one';
  $('model-message').hidden = m.loaded || modelMessageClosed;
  $('model-message-text').textContent = m.loaded ? '' : m.message;
  const ai = $('ai-state');
  ai.dataset.state = state.embedding;
  ai.textContent = !m.loaded ? 'AI wand: no model'
    : state.embedding === 'encoding' ? `AI wand: encoding ${state.imageName}...`
      : state.embedding === 'ready' ? `AI wand: ready, ${state.embeddingInfo}`
        : state.embedding === 'error' ? `AI wand: ${state.embeddingInfo}` : `AI wand: ${m.name}`;
});
view.onZoom = (s) => { $('zoom-label').textContent = `${Math.round(s * 100)}%`; };

// ---- pointer and wheel on the canvas -----------------------------------
let panning = null;
let spaceDown = false;
const tool = () => tools[state.tool];

canvasEl.addEventListener('contextmenu', (ev) => ev.preventDefault());
canvasEl.addEventListener('pointerdown', (ev) => {
  canvasEl.focus();
  if (!state.image) return;
  canvasEl.setPointerCapture(ev.pointerId);
  if (ev.button === 1 || spaceDown) {
    ev.preventDefault();
    panning = { x: ev.clientX, y: ev.clientY };
    return;
  }
  tool().down(ev, view.toImage(ev));
});
canvasEl.addEventListener('pointermove', (ev) => {
  if (!state.image) return;
  if (panning) {
    view.panBy(ev.clientX - panning.x, ev.clientY - panning.y);
    panning = { x: ev.clientX, y: ev.clientY };
    return;
  }
  const p = view.toImage(ev);
  tool().move(ev, p);
  // the label name of the object under the mouse (not while a button is held)
  const hit = ev.buttons === 0 ? topObjectAt(p, true) : null;
  const r = canvasEl.getBoundingClientRect();
  const hover = hit ? { id: hit.id, sx: ev.clientX - r.left, sy: ev.clientY - r.top } : null;
  if (hover || state.hover) { state.hover = hover; view.render(); }
});
canvasEl.addEventListener('pointerup', (ev) => {
  if (panning) { panning = null; return; }
  if (state.image) tool().up(ev, view.toImage(ev));
});
canvasEl.addEventListener('pointerleave', () => {
  if (tool().leave) tool().leave();
  if (state.hover) { state.hover = null; view.render(); }
});
canvasEl.addEventListener('wheel', (ev) => {
  ev.preventDefault();
  if (!state.image) return;
  const r = canvasEl.getBoundingClientRect();
  view.zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
}, { passive: false });

// ---- keyboard ----------------------------------------------------------
const TOOL_KEYS = { v: 'select', p: 'polygon', r: 'rect', b: 'brush', e: 'eraser', s: 'aiwand', w: 'wand' };

window.addEventListener('keyup', (ev) => { if (ev.key === ' ') spaceDown = false; });
window.addEventListener('keydown', (ev) => {
  const t = ev.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  if (dialogOpen()) return;
  if (!$('help').hidden) {
    if (ev.key === 'Escape' || ev.key === '?') { $('help').hidden = true; ev.preventDefault(); }
    return;
  }
  if (ev.ctrlKey || ev.metaKey) {
    if (key === 'z' && !ev.shiftKey) { app.undo(); ev.preventDefault(); }
    else if ((key === 'z' && ev.shiftKey) || key === 'y') { app.redo(); ev.preventDefault(); }
    return;
  }
  if (ev.altKey) return;
  if (tool().key && tool().key(ev)) { ev.preventDefault(); return; }
  let handled = true;
  if (key === ' ') spaceDown = true;
  else if (key === '?') $('help').hidden = false;
  else if (key === 'd' && ev.shiftKey) doneNext(app);
  else if (key === 'n') nextTodo(app);
  else if (key === 'a' || key === 'ArrowLeft') app.step(-1);
  else if (key === 'd' || key === 'ArrowRight') app.step(1);
  else if (/^[1-9]$/.test(key)) { const l = state.labels[Number(key) - 1]; if (l) app.setLabel(l.id); }
  else if (TOOL_KEYS[key]) app.setTool(TOOL_KEYS[key]);
  else if (key === 'f') view.fit();
  else if (key === '0') view.oneToOne();
  else if (key === '[' || key === ']') setBrushSize(state.brushSize + (key === ']' ? 1 : -1) * Math.max(1, Math.round(state.brushSize * 0.15)));
  else if (key === '+' || key === '=') { if (state.selectedId) app.objectAction(state.selectedId, 'up'); }
  else if (key === '-') { if (state.selectedId) app.objectAction(state.selectedId, 'down'); }
  else if (key === 'h') { if (state.selectedId) app.objectAction(state.selectedId, 'hide'); }
  else if (key === 'Delete' || key === 'Backspace') {
    if (!(state.tool === 'select' && editor.deleteHovered()) && state.selectedId) {
      app.objectAction(state.selectedId, 'delete');
    }
  } else if (key === 'Escape') { if (state.selectedId) app.select(null); }
  else handled = false;
  if (handled) ev.preventDefault();
});

// ---- controls -----------------------------------------------------------
function setBrushSize(v) {
  state.brushSize = Math.max(1, Math.min(200, Math.round(v)));
  $('brush-size').value = state.brushSize;
  $('brush-size-value').textContent = state.brushSize;
  savePrefs();
  view.render();
}

for (const b of document.querySelectorAll('#tools button')) b.addEventListener('click', () => app.setTool(b.dataset.tool));
$('btn-fit').addEventListener('click', () => view.fit());
$('btn-one').addEventListener('click', () => view.oneToOne());
$('btn-undo').addEventListener('click', () => app.undo());
$('btn-redo').addEventListener('click', () => app.redo());
$('btn-prev').addEventListener('click', () => app.step(-1));
$('btn-next').addEventListener('click', () => app.step(1));
setupImageList(app);
$('btn-background').addEventListener('click', () => app.addBackground());
$('btn-export').addEventListener('click', async () => {
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
});
$('btn-model-get').addEventListener('click', () => openModelGet(app));
$('btn-model-message-close').addEventListener('click', () => {
  modelMessageClosed = true;
  $('model-message').hidden = true;
});
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
$('brush-size').addEventListener('input', (e) => setBrushSize(Number(e.target.value)));
$('wand-tolerance').addEventListener('input', (e) => app.setTolerance(Number(e.target.value)));
$('opacity').addEventListener('input', (e) => { state.opacity = Number(e.target.value) / 100; savePrefs(); view.render(); });
$('outline-only').addEventListener('change', (e) => { e.target.blur(); state.outlineOnly = e.target.checked; savePrefs(); view.render(); });
$('paint-unlabelled').addEventListener('change', (e) => { e.target.blur(); state.paintUnlabelled = e.target.checked; savePrefs(); });
setupLabelPanel(app);
$('add-label').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('new-label-name').value.trim();
  if (!name) return;
  try {
    const l = await api.addLabel(name, $('new-label-color').value);
    state.labels.push(l);
    state.currentLabelId = l.id;
    savePrefs();
    $('new-label-name').value = '';
    $('new-label-name').blur();   // shortcut keys go to the page again, not into the text box
    emit('labels');
  } catch (e) { app.flash(e.message); }
});
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

// ---- start ----------------------------------------------------------------
async function start() {
  // a LAN link's ?token= has set the access cookie: keep the token out of the address bar
  if (new URLSearchParams(location.search).has('token')) {
    window.history.replaceState(null, '', location.pathname + location.hash);
  }
  try {
    const [imgs, labels, model] = await Promise.all([api.images(), api.labels(), api.model()]);
    state.images = imgs.images;
    state.unreadable = imgs.unreadable || [];
    state.labels = labels.labels;
    state.model = model;
    const kept = loadPrefs();
    // the label kept from last time, else the first one that shows on dark water (SUIM's
    // first, black "background waterbody", would not)
    state.currentLabelId = labelById(kept.currentLabelId) ? kept.currentLabelId
      : (state.labels.find((l) => luminance(l.color) >= 0.2) || state.labels[0] || { id: null }).id;
    $('brush-size').value = state.brushSize;
    $('brush-size-value').textContent = state.brushSize;
    $('opacity').value = Math.round(state.opacity * 100);
    $('outline-only').checked = state.outlineOnly;
    $('paint-unlabelled').checked = state.paintUnlabelled;
  } catch (e) {
    app.flash(e.message);
    return;
  }
  emit('labels', 'images', 'model', 'tool', 'save', 'objects');
  const wanted = decodeURIComponent(location.hash.slice(1));
  const first = state.images.find((i) => i.name === wanted) || state.images[0];
  if (first) await app.openImage(first.name);
  else app.flash('No images found in the images folder.');
  window.edgemask.ready = true;
}

// Test and debugging hooks (read-only use intended).
window.edgemask = {
  state, view, history, app, tools, autosave, ready: false,
  maskToDataURL: (c) => maskToDataURL(c, state.width, state.height),   // full-size PNG
};
start();
