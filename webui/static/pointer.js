// The mouse on the canvas: the active tool's presses and moves, panning (middle button or
// Space held), wheel zoom, and the name tag of the object under the mouse.

import { state } from './state.js';
import { topObjectAt } from './tools/select.js';
import { panKeyDown } from './keyboard.js';

export function setupPointer(app) {
  const { view } = app;
  const canvasEl = view.canvas;
  const tool = () => app.tools[state.tool];
  let panning = null;

  canvasEl.addEventListener('contextmenu', (ev) => ev.preventDefault());
  canvasEl.addEventListener('pointerdown', (ev) => {
    canvasEl.focus();
    if (!state.image) return;
    canvasEl.setPointerCapture(ev.pointerId);
    if (ev.button === 1 || panKeyDown()) {
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
}
