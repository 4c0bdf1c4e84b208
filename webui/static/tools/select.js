// Select tool: click an object to select it (topmost first; locked labels'
// objects are passed over), edit the
// selected polygon, drag empty space to pan.

import { state, emit, byZ, isShown, isLocked } from '../state.js';
import { hitObject } from '../objects.js';

/** The topmost drawn object under image point p that is not locked, or undefined. */
export function topObjectAt(p, locked = false) {
  return byZ(state.objects).reverse()
    .find((o) => isShown(o) && (locked || !isLocked(o)) && hitObject(o, p[0], p[1]));
}

export function createSelectTool(app, editor) {
  let pan = null;
  return {
    name: 'select',
    cursor: 'default',
    down(ev, p) {
      if (editor.down(ev, p)) return;
      if (ev.button !== 0) return;
      const hit = topObjectAt(p);
      if (hit) {
        app.select(hit.id);
      } else {
        app.select(null);
        pan = { x: ev.clientX, y: ev.clientY };
      }
    },
    move(ev, p) {
      if (editor.move(ev, p)) return;
      if (pan) {
        app.view.panBy(ev.clientX - pan.x, ev.clientY - pan.y);
        pan = { x: ev.clientX, y: ev.clientY };
      }
    },
    up() {
      editor.up();
      pan = null;
    },
    key(ev) {
      if (ev.key === 'Escape' && state.selectedId) { app.select(null); emit('objects'); return true; }
      return false;
    },
    overlay(ctx, view) { editor.overlay(ctx, view); },
    deactivate() { pan = null; editor.reset(); },
  };
}
