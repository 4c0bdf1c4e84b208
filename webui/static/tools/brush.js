// Brush and eraser. A brush stroke extends the selected mask object when it
// has the current label, otherwise it starts a new mask object. The eraser
// cuts from the selected object (a polygon is converted to a mask first).

import { state, selectedObject } from '../state.js';
import { newId, topZ, makeCanvas, cloneCanvas, binarize, binarizeGrown, maskBBox, touch, growBBox, keepBBox, polygonToMask, isEmptyMask } from '../objects.js';

export function createBrushTool(app, erase) {
  let stroke = null;   // {obj, last, before (box), rect (painted area)}
  let cursor = null;   // image point under the mouse

  function dab(c, a, b) {
    const g = c.getContext('2d', { willReadFrequently: true });
    g.save();
    g.globalCompositeOperation = erase ? 'destination-out' : 'source-over';
    g.strokeStyle = g.fillStyle = '#fff';
    g.lineWidth = state.brushSize;
    g.lineCap = 'round'; g.lineJoin = 'round';
    g.beginPath();
    if (a[0] === b[0] && a[1] === b[1]) {
      g.arc(a[0], a[1], state.brushSize / 2, 0, Math.PI * 2);
      g.fill();
    } else {
      g.moveTo(a[0], a[1]); g.lineTo(b[0], b[1]);
      g.stroke();
    }
    g.restore();
    const r = state.brushSize / 2 + 2;
    const area = [Math.min(a[0], b[0]) - r, Math.min(a[1], b[1]) - r, Math.max(a[0], b[0]) + r, Math.max(a[1], b[1]) + r];
    touch(c, area);
    if (erase) keepBBox(c);
    else growBBox(c, ...area);
  }

  function target() {
    const sel = selectedObject();
    if (erase) {
      if (!sel || sel.hidden) { app.flash('Select the object to erase from first.'); return null; }
      if (sel.kind === 'polygon') {
        sel.kind = 'mask';
        sel.canvas = polygonToMask(sel.polygon, state.width, state.height);
        delete sel.polygon;
      } else {
        sel.canvas = cloneCanvas(sel.canvas);   // history keeps the old canvas
      }
      return sel;
    }
    const label = app.requireLabel();
    if (label == null) return null;
    if (sel && sel.kind === 'mask' && sel.label_id === label && !sel.hidden) {
      sel.canvas = cloneCanvas(sel.canvas);
      return sel;
    }
    const obj = { id: newId(), label_id: label, kind: 'mask', z: topZ(state.objects), hidden: false,
      canvas: makeCanvas(state.width, state.height) };
    state.objects.push(obj);
    state.selectedId = obj.id;
    return obj;
  }

  return {
    name: erase ? 'eraser' : 'brush',
    cursor: 'none',
    down(ev, p) {
      if (ev.button !== 0) return;
      const obj = target();
      if (!obj) return;
      stroke = { obj, last: p, before: maskBBox(obj.canvas), rect: [p[0], p[1], p[0], p[1]] };
      dab(obj.canvas, p, p);
      app.view.render();
    },
    move(ev, p) {
      cursor = p;
      if (stroke) {
        dab(stroke.obj.canvas, stroke.last, p);
        stroke.last = p;
        const r = stroke.rect;
        stroke.rect = [Math.min(r[0], p[0]), Math.min(r[1], p[1]), Math.max(r[2], p[0]), Math.max(r[3], p[1])];
      }
      app.view.render();
    },
    up() {
      if (!stroke) return;
      const { obj, before, rect } = stroke;
      stroke = null;
      if (erase) binarize(obj.canvas);   // the box may shrink: look at every pixel
      else {
        const r = state.brushSize / 2 + 2;
        binarizeGrown(obj.canvas, [rect[0] - r, rect[1] - r, rect[2] + r, rect[3] + r], before);
      }
      if (erase && isEmptyMask(obj.canvas)) {
        state.objects = state.objects.filter((o) => o !== obj);
        state.selectedId = null;
      }
      app.commit();
    },
    leave() { cursor = null; app.view.render(); },
    overlay(ctx, view) {
      if (!cursor) return;
      const [sx, sy] = view.toScreen(...cursor);
      const r = Math.max(1, (state.brushSize / 2) * view.scale);
      ctx.lineWidth = 1;
      ctx.strokeStyle = '#000'; ctx.beginPath(); ctx.arc(sx, sy, r + 1, 0, Math.PI * 2); ctx.stroke();
      ctx.strokeStyle = erase ? '#ff8a80' : '#fff'; ctx.beginPath(); ctx.arc(sx, sy, r, 0, Math.PI * 2); ctx.stroke();
    },
    deactivate() { stroke = null; cursor = null; },
  };
}
