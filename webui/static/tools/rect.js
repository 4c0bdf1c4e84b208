// Rectangle tool: drag from one corner to the other; makes a 4-point polygon.

import { state } from '../state.js';
import { newId, topZ } from '../objects.js';
import { clampToImage } from './edit.js';

export function createRectTool(app) {
  let start = null, end = null;
  return {
    name: 'rect',
    cursor: 'crosshair',
    down(ev, p) {
      if (ev.button !== 0) return;
      start = clampToImage(p); end = start;
    },
    move(ev, p) {
      if (!start) return;
      end = clampToImage(p);
      app.view.render();
    },
    up() {
      if (!start) return;
      const [x0, x1] = [Math.min(start[0], end[0]), Math.max(start[0], end[0])];
      const [y0, y1] = [Math.min(start[1], end[1]), Math.max(start[1], end[1])];
      start = end = null;
      app.view.render();
      if (x1 - x0 < 1 || y1 - y0 < 1) return;
      const label = app.requireLabel();
      if (label == null) return;
      const obj = { id: newId(), label_id: label, kind: 'polygon', z: topZ(state.objects), hidden: false,
        polygon: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]] };
      state.objects.push(obj);
      state.selectedId = obj.id;
      app.commit();
    },
    key(ev) {
      if (ev.key === 'Escape' && start) { start = end = null; app.view.render(); return true; }
      return false;
    },
    overlay(ctx, view) {
      if (!start) return;
      const [ax, ay] = view.toScreen(...start), [bx, by] = view.toScreen(...end);
      ctx.strokeStyle = '#fff'; ctx.lineWidth = 1.5; ctx.setLineDash([4, 3]);
      ctx.strokeRect(ax, ay, bx - ax, by - ay); ctx.setLineDash([]);
    },
    deactivate() { start = end = null; },
  };
}
