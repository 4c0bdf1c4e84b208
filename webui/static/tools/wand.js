// Classic (colour flood-fill) wand: click to fill from a point with the
// slider's tolerance; holding the button and dragging sideways changes the
// tolerance and asks again. Enter accepts, Esc discards.

import { state } from '../state.js';
import { api } from '../api.js';
import { createPreviewCycle } from './preview.js';

export function createWandTool(app) {
  let seed = null, hold = null, tol = 32;

  const cycle = createPreviewCycle(app, 'wand', {
    async ask() {
      const [x, y] = seed, t = tol;
      return { ...(await api.wand(state.imageName, x, y, t)), tolerance: t };
    },
    describe: (r) => `tolerance ${r.tolerance}, ${r.area} px - Enter accepts, Esc discards`,
    extra: (r) => ({ tolerance: r.tolerance }),
  });
  const request = cycle.request;

  function reset() {
    seed = null; hold = null;
    cycle.clear();
    app.setToolInfo('');
    app.view.render();
  }

  return {
    name: 'wand',
    cursor: 'crosshair',
    reset,
    down(ev, p) {
      if (ev.button !== 0) return;
      const x = Math.floor(p[0]), y = Math.floor(p[1]);
      if (x < 0 || y < 0 || x >= state.width || y >= state.height) return;
      cycle.invalidate();
      seed = [x, y];
      tol = app.getTolerance();
      hold = { sx: ev.clientX, base: tol };
      request();
    },
    move(ev) {
      if (!hold) return;
      const t = Math.max(0, Math.min(255, Math.round(hold.base + (ev.clientX - hold.sx) / 2)));
      if (t !== tol) {
        tol = t;
        app.setTolerance(t);
        request();
      }
    },
    up() { hold = null; },
    key(ev) {
      if (ev.key === 'Enter' && cycle.showing()) {
        const c = cycle.mask();   // full resolution
        reset();
        app.accept(c);
        return true;
      }
      if (ev.key === 'Escape' && (seed || state.preview)) { reset(); return true; }
      return false;
    },
    overlay(ctx, view) {
      if (!seed) return;
      const [sx, sy] = view.toScreen(seed[0] + 0.5, seed[1] + 0.5);
      ctx.strokeStyle = '#fff'; ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(sx - 6, sy); ctx.lineTo(sx + 6, sy); ctx.moveTo(sx, sy - 6); ctx.lineTo(sx, sy + 6); ctx.stroke();
      if (hold) { ctx.fillStyle = '#fff'; ctx.font = '12px sans-serif'; ctx.fillText(`tol ${tol}`, sx + 8, sy - 8); }
    },
    deactivate() { reset(); },
  };
}
