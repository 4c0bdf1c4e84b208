// AI wand: left click adds a positive point, right / Alt / Shift click a
// negative one, a drag draws a box. Each change asks for a new mask (refine
// after the first click); Enter accepts, Esc discards. Before the first click
// the mask under the cursor is previewed while it moves.
//
// The masks come from the model's decoder running in this page (decoder/client.js) where the
// browser and the model allow it, else from the server's predict; the tool line says once why the
// server is used.

import { state } from '../state.js';
import { api } from '../api.js';
import { newId } from '../objects.js';
import { makeCanvas, ctx2d, colorWord } from '../mask/canvas.js';
import { openBrowserDecoder } from '../decoder/client.js';
import { clampToImage } from './edit.js';
import { createPreviewCycle } from './preview.js';
import { coalesce } from './coalesce.js';

const DRAG_PX = 5;
const HOVER = 'ai-hover';
const session = newId();   // one per tab

export function createAiWandTool(app) {
  let points = [], box = null, press = null, dragEnd = null;
  let calls = 0, lastLowRes = null;
  let local = null;   // {model, promise -> decoder or null}
  let fallbackSaid = null;   // the model the "server predicts" sentence was shown for
  let hoverAt = null, hoverGen = 0;

  /** The browser decoder for the model loaded now, or null (then the server predicts). */
  async function browserDecoder() {
    const model = state.model.name;
    if (!local || local.model !== model) {
      if (local) local.promise.then((d) => d && d.close());
      local = { model, reason: null, promise: null };
      const mine = local;
      mine.promise = openBrowserDecoder().then(({ decoder, reason }) => {
        mine.reason = reason;
        return decoder;
      }, (e) => { mine.reason = `the decoder runs on the server (${e.message})`; return null; });
    }
    return local.promise;
  }

  function serverFallback(reason) {
    if (local) { local.promise.then((d) => d && d.close()); local.promise = Promise.resolve(null); local.reason = reason; }
  }

  function sayFallbackOnce() {
    if (!local || !local.reason || fallbackSaid === local.model) return '';
    fallbackSaid = local.model;
    return ` - predicting on the server: ${local.reason}`;
  }

  async function decodeHere(decoder, name, prompt) {
    try {
      return await decoder.decode(name, prompt);
    } catch (e) {
      serverFallback(`the browser decoder failed (${e.message}).`);
      return null;
    }
  }

  const cycle = createPreviewCycle(app, 'ai', {
    async ask(isCurrent) {
      const name = state.imageName;
      app.setToolInfo('predicting...');
      await app.embeddingReady();
      if (!isCurrent()) return undefined;
      const decoder = await browserDecoder();
      if (!isCurrent()) return undefined;
      const refine = calls > 0;
      calls++;
      if (decoder) {
        const r = await decodeHere(decoder, name, { points, box, maskInput: refine ? lastLowRes : null });
        if (r) {
          lastLowRes = r.lowRes;
          return { mask: r.mask, score: r.score, area: r.area, ms: r.ms, where: 'in the browser' };
        }
      }
      const body = { points: points.map((p) => [p[0], p[1], p[2]]), box, refine, session };
      return { ...(await api.predict(name, body)), where: 'on the server' };
    },
    describe: (r) => `score ${r.score.toFixed(3)}, ${r.area} px, ${r.ms.toFixed(0)} ms ${r.where}`
      + ` - Enter accepts, Esc discards${sayFallbackOnce()}`,
    clearInfoOnError: true,
  });
  const request = cycle.request;

  // -- the hover preview: at most one decode in flight, the newest cursor position wins ----------
  const hover = coalesce(async () => {
    const at = hoverAt, gen = hoverGen, name = state.imageName;
    if (!at || points.length || box || press || state.embedding !== 'ready') return;
    const decoder = await browserDecoder();
    if (!decoder || gen !== hoverGen) return;
    const step = Math.max(1, Math.floor(1 / Math.max(app.view.scale, 1e-3)));
    const r = await decodeHere(decoder, name, { points: [[at.p[0], at.p[1], 1]], step, previewOnly: true });
    if (!r || gen !== hoverGen || name !== state.imageName || points.length || box) return;
    state.preview = { canvas: hoverCanvas(r.preview), mask: null, source: HOVER };
    app.view.render();
    state.hoverDrawn = { movedAt: at.t, drawnAt: performance.now() };   // benchmarks/bench_browser_decoder.py
  });

  function clearHover() {
    hoverAt = null;
    hoverGen++;
    if (state.preview && state.preview.source === HOVER) { state.preview = null; app.view.render(); }
  }

  function reset() {
    points = []; box = null; press = null; dragEnd = null; calls = 0; lastLowRes = null;
    clearHover();
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
      if (!press) {
        const inside = p[0] >= 0 && p[1] >= 0 && p[0] <= state.width && p[1] <= state.height;
        if (state.model.loaded && !points.length && !box && inside) { hoverAt = { p, t: ev.timeStamp }; hover(); }
        return;
      }
      if (!press.negative && Math.hypot(ev.clientX - press.sx, ev.clientY - press.sy) > DRAG_PX) press.drag = true;
      if (press.drag) { clearHover(); dragEnd = clampToImage(p); app.view.render(); }
    },
    leave() { if (!points.length && !box) clearHover(); },
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
      hoverAt = null;
      hoverGen++;   // the click's own answer replaces the hover preview
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

/** The worker's sampled hover mask ({step, w, h, bits}) as a preview canvas (mask/boxruns.js's form). */
function hoverCanvas({ step, w, h, bits }) {
  const c = makeCanvas(w, h, 0, 0);
  c._step = step;
  const g = ctx2d(c);
  const img = g.createImageData(w, h);
  const px = new Uint32Array(img.data.buffer), word = colorWord(null);
  for (let i = 0; i < bits.length; i++) if (bits[i]) px[i] = word;
  g.putImageData(img, 0, 0);
  return c;
}
