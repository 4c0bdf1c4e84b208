// Editing the selected polygon: drag a vertex, click an edge to insert one,
// right-click (or Delete while hovering) a vertex to remove it.

import { state, selectedObject, isShown, isLocked } from '../state.js';
import { nearestVertex, nearestEdge } from '../geometry.js';

const VERTEX_PX = 7, EDGE_PX = 5;

export function clampToImage([x, y]) {
  return [Math.min(state.width, Math.max(0, x)), Math.min(state.height, Math.max(0, y))];
}

export function createPolygonEditor(app) {
  let drag = null;   // {obj, index, moved}
  let hover = -1;    // hovered vertex of the selected polygon

  const editable = () => {
    const o = selectedObject();
    return o && o.kind === 'polygon' && isShown(o) && !isLocked(o) ? o : null;
  };

  function removeVertex(o, i) {
    if (o.polygon.length <= 3) {
      app.flash('A polygon needs at least 3 vertices (delete the object instead).');
      return;
    }
    o.polygon.splice(i, 1);
    hover = -1;
    app.commit();
  }

  return {
    get hover() { return hover; },

    /** Returns true when the press was on the selected polygon's vertex or edge. */
    down(ev, p) {
      const o = editable();
      if (!o) return false;
      const s = app.view.scale;
      const vi = nearestVertex(o.polygon, p[0], p[1], VERTEX_PX / s);
      if (ev.button === 2) {
        if (vi < 0) return false;
        removeVertex(o, vi);
        return true;
      }
      if (ev.button !== 0) return false;
      if (vi >= 0) {
        drag = { obj: o, index: vi, moved: false };
        return true;
      }
      const e = nearestEdge(o.polygon, p[0], p[1], EDGE_PX / s);
      if (!e) return false;
      o.polygon.splice(e.index + 1, 0, e.point);
      drag = { obj: o, index: e.index + 1, moved: true };
      app.view.render();
      return true;
    },

    move(ev, p) {
      if (!drag) {
        const o = editable();
        const h = o ? nearestVertex(o.polygon, p[0], p[1], VERTEX_PX / app.view.scale) : -1;
        if (h !== hover) { hover = h; app.view.render(); }
        return false;
      }
      drag.obj.polygon[drag.index] = clampToImage(p);
      drag.moved = true;
      app.view.render();
      return true;
    },

    up() {
      if (!drag) return false;
      const moved = drag.moved;
      drag = null;
      if (moved) app.commit();
      return true;
    },

    get dragging() { return !!drag; },

    reset() { drag = null; hover = -1; },

    /** Delete key: removes the hovered vertex; false when no vertex is hovered. */
    deleteHovered() {
      const o = editable();
      if (!o || hover < 0 || hover >= o.polygon.length) return false;
      removeVertex(o, hover);
      return true;
    },

    overlay(ctx, view) {
      const o = editable();
      if (!o || hover < 0 || hover >= o.polygon.length) return;
      const [sx, sy] = view.toScreen(...o.polygon[hover]);
      ctx.strokeStyle = '#ffeb3b'; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(sx, sy, 7, 0, Math.PI * 2); ctx.stroke();
    },
  };
}
