// The keyboard shortcuts (the help overlay lists them); Space held pans with the mouse.

import { state } from './state.js';
import { dialogOpen } from './dialog.js';
import { doneNext, nextTodo } from './panels/images.js';
import { setBrushSize } from './controls.js';
import { openLabelPick } from './panels/labelbar.js';

const TOOL_KEYS = { v: 'select', p: 'polygon', r: 'rect', b: 'brush', e: 'eraser', s: 'aiwand', w: 'wand' };
const $ = (id) => document.getElementById(id);
let spaceDown = false;

/** Space is held (a drag pans). */
export function panKeyDown() { return spaceDown; }

/** Listens for the shortcut keys; `editor` is the select tool's polygon editor. */
export function setupKeyboard(app, editor) {
  const tool = () => app.tools[state.tool];
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
    else if (key === 'l') openLabelPick(app);   // any label, by typing its name
    else if (TOOL_KEYS[key]) app.setTool(TOOL_KEYS[key]);
    else if (key === 'f') app.view.fit();
    else if (key === '0') app.view.oneToOne();
    else if (key === '[' || key === ']') setBrushSize(app, state.brushSize + (key === ']' ? 1 : -1) * Math.max(1, Math.round(state.brushSize * 0.15)));
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
}
