// Brush and eraser. A brush stroke extends the selected mask object when it
// has the current label, otherwise it starts a new mask object. The eraser
// cuts from the selected object (a polygon is converted to a mask first).
// With "only unlabelled pixels" the brush leaves pixels of other objects alone.

import { state, selectedObject, isShown, isLocked, labelColor } from '../state.js';
import { newId, topZ } from '../objects.js';
import { makeCanvas, cloneCanvas, binarize, binarizeGrown, maskBBox, touch, growBBox, keepBBox, polygonToMask, isEmptyMask, widen, trim, derive, unionBox } from '../mask/canvas.js';

/** Every pixel some other object covers (hidden ones too: they are exported), as an alpha mask. */
function othersMask(obj) {
  const c = document.createElement('canvas');
  c.width = state.width; c.height = state.height;
  const g = c.getContext('2d');
  g.fillStyle = '#fff';
  for (const o of state.objects) {
    if (o === obj) continue;
    if (o.kind === 'mask') g.drawImage(o.canvas, o.canvas._x || 0, o.canvas._y || 0);
    else {
      g.beginPath();
      o.polygon.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
      g.closePath();
      g.fill('evenodd');
    }
  }
  return c;
}

export function createBrushTool(app, erase) {
  let stroke = null;   // {obj, last, before (box), rect (painted area), from (the mask at its start), changed}
  let cursor = null;   // image point under the mouse
  let full = null;     // the whole-image canvas strokes paint into, reused from stroke to stroke

  function line(g, a, b, color) {
    g.strokeStyle = g.fillStyle = color;
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
  }

  /** Paints (or erases) the segment a-b into the stroke's object. Its canvas covers the whole
   * image while a brush stroke goes on (widened at the start, cut to its box at the end), and its
   * own box, from (c._x, c._y), otherwise. */
  function dab(obj, a, b) {
    const r = state.brushSize / 2 + 2;
    const area = [Math.min(a[0], b[0]) - r, Math.min(a[1], b[1]) - r, Math.max(a[0], b[0]) + r, Math.max(a[1], b[1]) + r];
    const c = obj.canvas;
    const color = c._color || '#fff';   // the mask's own colour (alpha says inside)
    const g = c.getContext('2d', { willReadFrequently: true });
    g.save();
    if (!erase && stroke && stroke.protect) {
      // "only unlabelled pixels": the dab goes through a scratch canvas from which the other
      // objects' pixels are cut, so neither they nor this object's own earlier pixels change
      const x0 = Math.max(0, Math.floor(area[0])), y0 = Math.max(0, Math.floor(area[1]));
      const w = Math.min(state.width, Math.ceil(area[2])) - x0, h = Math.min(state.height, Math.ceil(area[3])) - y0;
      if (w > 0 && h > 0) {
        const scratch = document.createElement('canvas');
        scratch.width = w; scratch.height = h;
        const sg = scratch.getContext('2d');
        sg.translate(-x0, -y0);
        line(sg, a, b, color);
        sg.setTransform(1, 0, 0, 1, 0, 0);
        sg.globalCompositeOperation = 'destination-out';
        sg.drawImage(stroke.protect, x0, y0, w, h, 0, 0, w, h);
        g.drawImage(scratch, x0 - (c._x || 0), y0 - (c._y || 0));   // image -> canvas pixels
      }
    } else {
      g.translate(-c._x, -c._y);
      g.globalCompositeOperation = erase ? 'destination-out' : 'source-over';
      line(g, a, b, color);
    }
    g.restore();
    touch(c, area);
    if (stroke) stroke.changed = unionBox(stroke.changed, area);
    if (erase) keepBBox(c);
    else growBBox(c, ...area);
  }

  function target() {
    const sel = selectedObject();
    if (erase) {
      if (!sel || !isShown(sel)) { app.flash('Select the object to erase from first.'); return null; }
      if (isLocked(sel)) { app.flash('Its label is locked (Labels panel): unlock it to erase.'); return null; }
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
    if (sel && sel.kind === 'mask' && sel.label_id === label && isShown(sel) && !isLocked(sel)) {
      sel.canvas = cloneCanvas(sel.canvas);
      return sel;
    }
    const obj = { id: newId(), label_id: label, kind: 'mask', z: topZ(state.objects), hidden: false,
      canvas: makeCanvas(1, 1) };
    obj.canvas._color = labelColor(label);   // painted in its colour: drawn without a tinted copy
    state.objects.push(obj);
    state.selectedId = obj.id;
    return obj;
  }

  /** Ends the stroke: clean edges, the canvas cut to its box (never left as the shared
   * whole-image canvas), one undo step. */
  function finish() {
    if (!stroke) return;
    const { obj, before, rect, from, changed } = stroke;
    stroke = null;
    if (erase) binarize(obj.canvas);   // the box may shrink: look at every pixel
    else {
      const r = state.brushSize / 2 + 2;
      binarizeGrown(obj.canvas, [rect[0] - r, rect[1] - r, rect[2] + r, rect[3] + r], before);
    }
    const cut = trim(obj.canvas);
    obj.canvas = cut === full ? cloneCanvas(full) : cut;   // (a stroke over the whole image)
    // only the stroke's box changed: the save sends that (the lineage of mask canvases)
    if (from) derive(obj.canvas, from, [Math.floor(changed[0]), Math.floor(changed[1]), Math.ceil(changed[2]), Math.ceil(changed[3])]);
    if (erase && isEmptyMask(obj.canvas)) {
      state.objects = state.objects.filter((o) => o !== obj);
      state.selectedId = null;
    }
    app.commit();
  }

  return {
    name: erase ? 'eraser' : 'brush',
    cursor: 'none',
    down(ev, p) {
      if (ev.button !== 0) return;
      const sel = selectedObject();
      const was = sel && sel.kind === 'mask' ? sel.canvas : null;
      const obj = target();
      if (!obj) return;
      const from = obj === sel ? was : null;   // (a new object, or a polygon turned mask: saved whole)
      if (!erase) obj.canvas = full = widen(obj.canvas, state.width, state.height, full);
      stroke = { obj, last: p, before: maskBBox(obj.canvas), rect: [p[0], p[1], p[0], p[1]], from, changed: null,
        protect: !erase && state.paintUnlabelled ? othersMask(obj) : null };
      dab(obj, p, p);
      app.view.render();
    },
    move(ev, p) {
      cursor = p;
      if (stroke) {
        dab(stroke.obj, stroke.last, p);
        stroke.last = p;
        const r = stroke.rect;
        stroke.rect = [Math.min(r[0], p[0]), Math.min(r[1], p[1]), Math.max(r[2], p[0]), Math.max(r[3], p[1])];
      }
      app.view.render();
    },
    up() { finish(); },
    leave() { cursor = null; app.view.render(); },
    overlay(ctx, view) {
      if (!cursor) return;
      const [sx, sy] = view.toScreen(...cursor);
      const r = Math.max(1, (state.brushSize / 2) * view.scale);
      ctx.lineWidth = 1;
      ctx.strokeStyle = '#000'; ctx.beginPath(); ctx.arc(sx, sy, r + 1, 0, Math.PI * 2); ctx.stroke();
      ctx.strokeStyle = erase ? '#ff8a80' : '#fff'; ctx.beginPath(); ctx.arc(sx, sy, r, 0, Math.PI * 2); ctx.stroke();
    },
    deactivate() { finish(); cursor = null; },
  };
}
