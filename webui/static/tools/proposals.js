// Pre-label: the model's proposals for the whole image (the server's automatic mask generator on the
// cached embedding), drawn as a translucent layer of their own while this tool is active. Click one to
// accept it as an object of the current label; drag a box and press Enter to accept those inside it,
// Shift+Enter accepts all that remain; right-click or X rejects the one under the mouse; Shift+R computes
// them again. The open image's count shows on the tool's button. Accepted
// proposals become ordinary objects (the server stores them, undo removes them like any other); the
// proposals are computed in the background, with their progress shown, while the other tools work.

import { state, on, labelColor } from '../state.js';
import { api } from '../api.js';
import * as autosave from '../autosave.js';
import { fromJSON } from '../objects.js';
import { maskPreview } from '../mask/boxruns.js';
import { ctx2d } from '../mask/canvas.js';
import { clampToImage } from './edit.js';

const DRAG_PX = 5;
const POLL_MS = 400;
const ALPHA = 0.35, HOVER_ALPHA = 0.7;

/** Whether image point (x, y) is inside a layer canvas (decoded at every _step-th pixel on a big image). */
function has(c, x, y) {
  const step = c._step || 1;
  const xi = Math.floor((x - c._x) / step), yi = Math.floor((y - c._y) / step);
  if (xi < 0 || yi < 0 || xi >= c.width || yi >= c.height) return false;
  return ctx2d(c).getImageData(xi, yi, 1, 1).data[3] > 0;
}

/** A distinct colour per proposal (golden-angle hues), as #rrggbb. */
function colorOf(i) {
  const h = (i * 137.508) % 360, s = 0.85, l = 0.55;
  const f = (n) => {
    const k = (n + h / 30) % 12;
    const c = l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(c * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

export function createProposalsTool(app) {
  let forImage = null;    // the image the proposals below belong to
  let items = [];         // [{id, bbox, area, canvas, state: 'open' | 'accepted' | 'rejected', objectId}]
  let press = null, dragEnd = null, box = null, hover = null;
  let polling = null, computing = false;
  let queue = Promise.resolve();   // accepts and rejects, one after the other
  const progress = document.createElement('div');
  progress.id = 'prelabel-progress';
  progress.hidden = true;
  progress.innerHTML = '<span class="text"></span><div class="bar"><div></div></div>';
  (document.getElementById('canvas-box') || document.getElementById('stage')).appendChild(progress);

  /** Shown: open ones, and accepted ones whose object is gone again (undone or deleted). */
  function visible() {
    const ids = new Set(state.objects.map((o) => o.id));
    return items.filter((p) => p.state === 'open' || (p.state === 'accepted' && !ids.has(p.objectId)));
  }

  function at(p) {   // the smallest shown proposal under image point p
    let best = null;
    for (const q of visible()) {
      const [x0, y0, x1, y1] = q.bbox;
      if (p[0] < x0 || p[1] < y0 || p[0] >= x1 || p[1] >= y1 || !has(q.canvas, p[0], p[1])) continue;
      if (!best || q.area < best.area) best = q;
    }
    return best;
  }

  function showProgress(job) {
    progress.hidden = !job;
    if (!job) return;
    progress.querySelector('.text').textContent = job.total
      ? `Pre-labelling: ${job.done} of ${job.total} points` : 'Pre-labelling: starting...';
    progress.querySelector('.bar div').style.width = `${job.total ? (100 * job.done) / job.total : 0}%`;
  }

  function describe() {
    const n = visible().length;
    const button = document.querySelector('#tools button[data-tool="prelabel"]');
    if (button) { if (n) button.dataset.count = n; else delete button.dataset.count; }
    if (state.tool !== 'prelabel') return;
    app.setToolInfo(n ? `${n} proposals: click accepts one, right-click / X rejects, drag a box + Enter accepts ` +
      'those inside, Shift+Enter all' : (computing ? 'Computing proposals (the other tools work meanwhile)...' : 'No proposals left.'));
  }

  async function load(name) {
    forImage = name;
    items = []; box = null; hover = null;
    describe();
    app.view.render();
    let r;
    try { r = await api.proposals(name); } catch (e) { app.flash(e.message); return; }
    if (forImage !== name) return;
    // a layer of a big photo is decoded at the screen's resolution (the fitted view's), not the image's
    const scale = Math.min(1, app.view.scale);
    items = r.proposals.map((p, i) => ({ ...p, canvas: maskPreview(p.mask, colorOf(i), scale).canvas, state: 'open', objectId: null }));
    if (r.job.state === 'running') watch(name);
    else if (!items.length && !r.counts.accepted && !r.counts.rejected && state.tool === 'prelabel') compute(name);
    describe();
    app.view.render();
  }

  async function compute(name) {
    if (!state.model.loaded) { app.flash(state.model.message || 'Pre-labelling needs a model.'); return; }
    try {
      showProgress(await api.computeProposals(name, tool.params));
    } catch (e) { app.flash(e.message); return; }
    watch(name);
  }

  function watch(name) {
    clearTimeout(polling);
    computing = true;
    describe();
    const tick = async () => {
      let job;
      try { job = await api.proposalsJob(name); } catch (e) { polling = null; computing = false; showProgress(null); app.flash(e.message); return; }
      if (job.state === 'running') { showProgress(job); polling = setTimeout(tick, POLL_MS); return; }
      polling = null;
      computing = false;
      showProgress(null);
      if (job.state === 'error') { app.flash(job.message); return; }
      if (state.imageName === name) { app.flash(job.message); load(name); }
    };
    polling = setTimeout(tick, 0);
  }

  /** Accepts {id} | {box} | {all: true} on the server and adds the new objects as one undoable step. */
  function accept(what) {
    const label = app.requireLabel();
    if (label == null) return queue;
    const name = forImage;
    queue = queue.then(async () => {
      await autosave.flush();   // the server's version must be the page's
      if (state.imageName !== name) return;
      let r;
      try {
        r = what.id != null ? await api.acceptProposal(name, what.id, label, state.version)
          : await api.acceptProposals(name, { ...what, label_id: label, version: state.version });
      } catch (e) { app.flash(e.message); return; }
      if (state.imageName !== name || !r.objects.length) { if (!r.objects.length) app.flash('No proposals there to accept.'); return; }
      const objects = r.objects.map((j) => fromJSON(j, labelColor(j.label_id)));
      state.objects.push(...objects);
      autosave.adopt(r.version, objects);
      r.accepted.forEach((id, k) => {
        const p = items.find((q) => q.id === id);
        if (p) { p.state = 'accepted'; p.objectId = objects[k].id; }
      });
      if (objects.length === 1) state.selectedId = objects[0].id;
      app.commit();
      describe();
    });
    return queue;
  }

  function reject(p) {
    if (!p) return queue;
    const name = forImage;
    queue = queue.then(async () => {
      try { await api.rejectProposal(name, p.id); } catch (e) { app.flash(e.message); return; }
      p.state = 'rejected';
      if (hover === p) hover = null;
      describe();
      app.view.render();
    });
    return queue;
  }

  on('tool', () => {
    if (state.tool !== 'prelabel') return;
    if (forImage !== state.imageName || !items.length) load(state.imageName);
    else describe();
  });
  on('objects', () => {   // another image opened (its proposals counted on the button), or undo / redo
    if (state.imageName && state.imageName !== forImage) load(state.imageName);
    else describe();
  });

  const tool = {
    name: 'prelabel',
    cursor: 'pointer',
    params: {},   // the generator's parameters (the server's defaults when left out)
    visible,
    queue: () => queue,
    down(ev, p) {
      if (ev.button === 2) { reject(at(p)); return; }
      if (ev.button !== 0) return;
      press = { p: clampToImage(p), sx: ev.clientX, sy: ev.clientY, drag: false };
    },
    move(ev, p) {
      if (press) {
        if (Math.hypot(ev.clientX - press.sx, ev.clientY - press.sy) > DRAG_PX) press.drag = true;
        if (press.drag) { dragEnd = clampToImage(p); app.view.render(); }
        return;
      }
      const h = at(p);
      if (h !== hover) { hover = h; app.view.render(); }
    },
    up(ev, p) {
      if (!press) return;
      const pr = press;
      press = null; dragEnd = null;
      if (pr.drag) {
        const q = clampToImage(p);
        box = [Math.min(pr.p[0], q[0]), Math.min(pr.p[1], q[1]), Math.max(pr.p[0], q[0]), Math.max(pr.p[1], q[1])];
        const n = visible().filter((x) => x.bbox[0] >= box[0] && x.bbox[1] >= box[1] && x.bbox[2] <= box[2] && x.bbox[3] <= box[3]).length;
        app.setToolInfo(`${n} proposals inside the box: Enter accepts them, Esc clears the box`);
        app.view.render();
        return;
      }
      const hit = at(pr.p);
      if (hit) accept({ id: hit.id });
    },
    key(ev) {
      if (ev.key === 'Enter' && ev.shiftKey) { accept({ all: true }); return true; }
      if (ev.key === 'R' && ev.shiftKey && !computing) { compute(forImage); return true; }
      if (ev.key === 'Enter' && box) { const b = box; box = null; accept({ box: b }); app.view.render(); return true; }
      if (ev.key === 'Enter') { app.flash('Drag a box around proposals first, or Shift+Enter accepts them all.'); return true; }
      if ((ev.key === 'x' || ev.key === 'X') && hover) { reject(hover); return true; }
      if (ev.key === 'Escape' && box) { box = null; describe(); app.view.render(); return true; }
      return false;
    },
    overlay(ctx, view) {
      if (forImage !== state.imageName) return;
      const dpr = window.devicePixelRatio || 1;
      const shown = visible().sort((a, b) => b.area - a.area);   // small ones on top
      ctx.save();
      ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.ox, dpr * view.oy);
      ctx.imageSmoothingEnabled = view.scale < 1;
      for (const p of shown) {
        ctx.globalAlpha = p === hover ? HOVER_ALPHA : ALPHA;
        const c = p.canvas, step = c._step || 1;
        ctx.drawImage(c, c._x, c._y, c.width * step, c.height * step);
      }
      ctx.restore();
      const frame = (b, color) => {
        const [ax, ay] = view.toScreen(b[0], b[1]), [bx, by] = view.toScreen(b[2], b[3]);
        ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.setLineDash([4, 3]);
        ctx.strokeRect(ax, ay, bx - ax, by - ay); ctx.setLineDash([]);
      };
      if (hover && shown.includes(hover)) frame(hover.bbox, '#fff');
      if (box) frame(box, '#ff8c1a');
      if (press && press.drag && dragEnd) frame([press.p[0], press.p[1], dragEnd[0], dragEnd[1]].map((v, i, a) =>
        (i < 2 ? Math.min(v, a[i + 2]) : Math.max(v, a[i - 2]))), '#fff');
    },
    leave() { if (hover) { hover = null; app.view.render(); } },
    deactivate() { press = dragEnd = box = hover = null; app.setToolInfo(''); },
  };
  return tool;
}
