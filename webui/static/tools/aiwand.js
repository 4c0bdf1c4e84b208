// AI wand: left click adds a positive point, right / Alt / Shift click a
// negative one, a drag draws a box. Each change asks the server for a new
// mask (refine after the first click); Enter accepts, Esc discards.

import { state } from '../state.js';
import { api } from '../api.js';
import { newId } from '../objects.js';
import { clampToImage } from './edit.js';
import { createPreviewCycle } from './preview.js';

const DRAG_PX = 5;
const session = newId();   // one per tab

export function createAiWandTool(app) {
  let points = [], box = null, press = null, dragEnd = null;
  let calls = 0;

  const cycle = createPreviewCycle(app, 'ai', {
    async ask(isCurrent) {
      const name = state.imageName;
      app.setToolInfo('predicting...');
      await app.embeddingReady();
      if (!isCurrent()) return undefined;
      const body = { points: points.map((p) => [p[0], p[1], p[2]]), box, refine: calls > 0, session };
      calls++;
      return api.predict(name, body);
    },
    describe: (r) => `score ${r.score.toFixed(3)}, ${r.area} px, ${r.ms.toFixed(0)} ms - Enter accepts, Esc discards`,
    clearInfoOnError: true,
  });
  const request = cycle.request;

  function reset() {
    points = []; box = null; press = null; dragEnd = null; calls = 0;
    cycle.clear();
    app.setToolInfo('');
    app.view.render();
  }

  return {
    name: 'aiwand',
    cursor: 'crosshair',
    reset,
    down(ev, p) {
      if (!state.model.loaded) { app.flash(state.model.message || 'No model is loaded.'); return; }
      if (ev.button !== 0 && ev.button !== 2) return;
      if (p[0] < 0 || p[1] < 0 || p[0] > state.width || p[1] > state.height) return;
      const negative = ev.button === 2 || ev.altKey || ev.shiftKey;
      press = { p: clampToImage(p), sx: ev.clientX, sy: ev.clientY, negative, drag: false };
    },
    move(ev, p) {
      if (!press) return;
      if (!press.negative && Math.hypot(ev.clientX - press.sx, ev.clientY - press.sy) > DRAG_PX) press.drag = true;
      if (press.drag) { dragEnd = clampToImage(p); app.view.render(); }
    },
    up(ev, p) {
      if (!press) return;
      const pr = press;
      press = null;
      if (pr.drag) {
        const q = clampToImage(p);
        dragEnd = null;
        if (Math.abs(q[0] - pr.p[0]) < 1 || Math.abs(q[1] - pr.p[1]) < 1) { app.view.render(); return; }
        box = [Math.min(pr.p[0], q[0]), Math.min(pr.p[1], q[1]), Math.max(pr.p[0], q[0]), Math.max(pr.p[1], q[1])];
        dragEnd = null;
      } else {
        points.push([pr.p[0], pr.p[1], pr.negative ? 0 : 1]);
      }
      app.view.render();
      request();
    },
    key(ev) {
      if (ev.key === 'Enter' && cycle.showing()) {
        const c = cycle.mask();   // full resolution
        reset();
        app.accept(c);
        return true;
      }
      if (ev.key === 'Escape' && (points.length || box || state.preview)) { reset(); return true; }
      return false;
    },
    overlay(ctx, view) {
      if (box) {
        const [ax, ay] = view.toScreen(box[0], box[1]), [bx, by] = view.toScreen(box[2], box[3]);
        ctx.strokeStyle = '#ff8c1a'; ctx.lineWidth = 1.5; ctx.strokeRect(ax, ay, bx - ax, by - ay);
      }
      if (press && press.drag && dragEnd) {
        const [ax, ay] = view.toScreen(...press.p), [bx, by] = view.toScreen(...dragEnd);
        ctx.strokeStyle = '#fff'; ctx.setLineDash([4, 3]); ctx.strokeRect(ax, ay, bx - ax, by - ay); ctx.setLineDash([]);
      }
      for (const [x, y, pos] of points) {
        const [sx, sy] = view.toScreen(x, y);
        ctx.fillStyle = pos ? '#4caf50' : '#f44336'; ctx.strokeStyle = '#fff'; ctx.lineWidth = 1.5;
        ctx.beginPath(); ctx.arc(sx, sy, 5, 0, Math.PI * 2); ctx.fill(); ctx.stroke();
      }
    },
    deactivate() { reset(); },
  };
}
