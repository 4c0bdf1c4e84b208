// Polygon tool: click vertices; click right on the first point (within CLOSE_PX screen
// pixels), double-click or press Enter to close (a vertex put near the start is a vertex); Backspace removes the last point (never an object: Delete does
// that); Esc cancels. (Editing existing
// polygons is the Select tool's job, so new polygons can share their
// neighbours' edges and vertices without moving them.)

import { state } from '../state.js';
import { newId, topZ } from '../objects.js';
import { clampToImage } from './edit.js';

const CLOSE_PX = 5;          // screen px from the first vertex that a click closes on
const DOUBLE_MS = 400, DOUBLE_PX = 5;   // a second press this soon and near: a double-click

export function createPolygonTool(app) {
  let pts = [];
  let hover = null;
  let lastDown = null;   // {t, x, y} of the previous press (screen px), for double-clicks

  function finish() {
    if (pts.length < 3) return;
    const label = app.requireLabel();
    if (label == null) return;
    const obj = { id: newId(), label_id: label, kind: 'polygon', z: topZ(state.objects), hidden: false, polygon: pts };
    pts = [];
    state.objects.push(obj);
    state.selectedId = obj.id;
    app.commit();
  }

  return {
    name: 'polygon',
    cursor: 'crosshair',
    get drawing() { return pts.length > 0; },
    down(ev, p) {
      if (ev.button !== 0) return;
      const [sx, sy] = app.view.toScreen(...p);
      const now = performance.now(), prev = lastDown;
      lastDown = { t: now, x: sx, y: sy };
      const double = prev && now - prev.t < DOUBLE_MS && Math.hypot(prev.x - sx, prev.y - sy) <= DOUBLE_PX;
      if (double && pts.length) {   // a double-click's first press put the last vertex: the second closes
        lastDown = null;
        if (pts.length >= 3) finish();
        return;
      }
      if (pts.length >= 3) {
        const [fx, fy] = app.view.toScreen(...pts[0]);
        if (Math.hypot(fx - sx, fy - sy) <= CLOSE_PX) { lastDown = null; finish(); return; }
      }
      pts.push(clampToImage(p));
      app.view.render();
    },
    move(ev, p) {
      hover = p;
      if (pts.length) app.view.render();
    },
    up() {},
    key(ev) {
      if (ev.key === 'Enter' && pts.length) { finish(); return true; }
      if (ev.key === 'Escape' && pts.length) { pts = []; app.view.render(); return true; }
      // Backspace only ever removes points of the polygon being drawn: held down (or pressed
      // once too often) it must not go on to delete the polygon closed just before.
      if (ev.key === 'Backspace') { if (pts.length) { pts.pop(); app.view.render(); } return true; }
      return false;
    },
    overlay(ctx, view) {
      if (!pts.length) return;
      ctx.strokeStyle = '#fff'; ctx.lineWidth = 1.5;
      ctx.beginPath();
      pts.forEach((q, i) => { const [sx, sy] = view.toScreen(...q); i ? ctx.lineTo(sx, sy) : ctx.moveTo(sx, sy); });
      if (hover) ctx.lineTo(...view.toScreen(...hover));
      ctx.stroke();
      pts.forEach((q, i) => {
        const [sx, sy] = view.toScreen(...q);
        ctx.fillStyle = i === 0 ? '#ffeb3b' : '#fff';
        ctx.beginPath(); ctx.arc(sx, sy, i === 0 ? 5 : 3, 0, Math.PI * 2); ctx.fill();
      });
    },
    deactivate() { pts = []; hover = null; },
  };
}
