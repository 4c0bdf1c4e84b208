// Entry point: wires state, view, the annotator's commands, tools, panels, keyboard, mouse,
// controls and autosave, then opens the first image.

import { state, emit, on, labelById, luminance } from './state.js';
import { api } from './api.js';
import { View } from './view.js';
import { History } from './history.js';
import * as autosave from './autosave.js';
import { createAnnotator } from './annotator.js';
import { maskToDataURL } from './mask/canvas.js';
import { renderLabels } from './panels/labelbar.js';
import { renderObjects } from './panels/objects.js';
import { renderImages, setupImageList, hashImage } from './panels/images.js';
import { renderLabelPanel, setupLabelPanel } from './panels/labels.js';
import { renderHint, renderSave, renderModel, hintHeight } from './panels/status.js';
import { createPolygonEditor } from './tools/edit.js';
import { createSelectTool } from './tools/select.js';
import { createPolygonTool } from './tools/polygon.js';
import { createRectTool } from './tools/rect.js';
import { createBrushTool } from './tools/brush.js';
import { createAiWandTool } from './tools/aiwand.js';
import { createWandTool } from './tools/wand.js';
import { createProposalsTool } from './tools/proposals.js';
import { setupPropagate } from './tools/propagate.js';
import { setupKeyboard } from './keyboard.js';
import { setupPointer } from './pointer.js';
import { setupControls, showPrefs } from './controls.js';
import { loadPrefs } from './prefs.js';
import { setupSidePanels } from './panels/sidepanels.js';

const $ = (id) => document.getElementById(id);
const history = new History();
const view = new View($('canvas'));
const app = createAnnotator(view, history);

const editor = createPolygonEditor(app);
const tools = Object.assign(app.tools, {
  select: createSelectTool(app, editor),
  polygon: createPolygonTool(app),
  rect: createRectTool(app),
  brush: createBrushTool(app, false),
  eraser: createBrushTool(app, true),
  aiwand: createAiWandTool(app),
  wand: createWandTool(app),
  prelabel: createProposalsTool(app),
});
view.reserveTop = hintHeight;   // a fitted image starts below the first-use hint
view.overlay = (ctx, v) => tools[state.tool].overlay && tools[state.tool].overlay(ctx, v);

// ---- panels and status -------------------------------------------------
on('labels', () => { renderLabels(app); renderObjects(app); renderLabelPanel(app); renderHint(); view.render(); });
on('images', () => renderImages(app));
on('objects', () => {
  renderObjects(app);
  renderHint();
  $('btn-undo').disabled = !history.canUndo;
  $('btn-redo').disabled = !history.canRedo;
});
on('tool', () => {
  for (const b of document.querySelectorAll('#tools button')) b.classList.toggle('active', b.dataset.tool === state.tool);
});
on('save', renderSave);
on('model', renderModel);
view.onZoom = (s) => { $('zoom-label').textContent = `${Math.round(s * 100)}%`; };

setupPointer(app);
setupKeyboard(app, editor);
setupControls(app);
setupImageList(app);
setupLabelPanel(app);
setupSidePanels();
setupPropagate(app);

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
    showPrefs();
  } catch (e) {
    app.flash(e.message);
    return;
  }
  emit('labels', 'images', 'model', 'tool', 'save', 'objects');
  const first = hashImage() || state.images[0];
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
