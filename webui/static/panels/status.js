// The status lines: the stage's flash / tool line, the first view's hint, the autosave state,
// and the model's state (the AI wand's button title, the no-model banner, the embedding line).

import { state, labelById } from '../state.js';
import { labelKey } from './labelbar.js';

const $ = (id) => document.getElementById(id);
let flashTimer = null;
let toolInfo = '';
let modelMessageClosed = false;

/** Shows msg in the stage's line for ms milliseconds, then the tool's line again. */
export function flash(msg, ms = 4000) {
  const info = $('stage-info');
  info.textContent = msg;
  info.classList.add('flash');
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { info.classList.remove('flash'); info.textContent = toolInfo; }, ms);
}

/** The active tool's line (shown unless a flash is). */
export function setToolInfo(msg) {
  toolInfo = msg;
  if (!$('stage-info').classList.contains('flash')) $('stage-info').textContent = msg;
}

/** The first view's one line: what to do first, while the open image has no objects. */
export function renderHint() {
  const hint = $('first-hint');
  const show = !!state.image && state.objects.length === 0;
  hint.hidden = !show;
  if (!show) return;
  const l = labelById(state.currentLabelId);
  const draw = state.model.loaded ? 'click an object with the AI wand (S), or draw it: Polygon (P), Brush (B)'
    : 'draw an object: Polygon (P), Brush (B), colour Wand (W)';
  const key = l ? labelKey(l.id) : null;
  const now = l ? `"${l.name}" (${key === 'L' ? 'L, then its name' : `key ${key}`})` : 'none';
  hint.textContent = `Pick a label with 1-9 or L (type its name; now ${now}), then ${draw}; ` +
    'Shift+D when the image is done. ? lists every key.';
}

/** The CSS px the first-use hint takes at the top of the canvas (0 when it is not shown), so a
 * fitted image starts below it (View.reserveTop). */
export function hintHeight() {
  renderHint();
  const hint = $('first-hint');
  return hint.hidden ? 0 : hint.getBoundingClientRect().height + 2;
}

export function renderSave() {
  const s = $('save-status');
  const text = { saved: 'saved', unsaved: 'unsaved', saving: 'saving...', error: 'save failed', conflict: 'conflict' }[state.save.status];
  s.textContent = text;
  s.className = 'status-' + state.save.status;
  s.title = state.save.message || 'Autosave state';
  if (state.save.status === 'error') flash('Saving failed: ' + state.save.message);
  $('conflict').hidden = state.save.status !== 'conflict';
  $('conflict-message').textContent = state.save.message;
}

export function renderModel() {
  const m = state.model;
  const btn = document.querySelector('#tools button[data-tool="aiwand"]');
  btn.title = m.loaded ? `AI wand with ${m.name} (S)` : 'AI wand: no model yet, click to get one';
  $('model-message').hidden = m.loaded || modelMessageClosed;
  $('model-message-text').textContent = m.loaded ? '' : m.message;
  const ai = $('ai-state');
  ai.dataset.state = m.warning ? 'warning' : state.embedding;
  ai.textContent = m.warning ? `AI wand: ${m.warning}` : !m.loaded ? 'AI wand: no model'
    : state.embedding === 'encoding' ? `AI wand: encoding ${state.imageName}...`
      : state.embedding === 'ready' ? `AI wand: ready, ${state.embeddingInfo}`
        : state.embedding === 'error' ? `AI wand: ${state.embeddingInfo}` : `AI wand: ${m.name}`;
}

/** Hides the no-model banner for the rest of this page's life. */
export function closeModelMessage() {
  modelMessageClosed = true;
  $('model-message').hidden = true;
}
