// The annotator's commands (the `app` every tool and panel is given): the open image and its
// objects, undo / redo, labels, the active tool, accepting a mask, and the image's embedding.

import { state, emit, labelById, labelColor, byZ, isLocked } from './state.js';
import { api, ApiError } from './api.js';
import * as autosave from './autosave.js';
import { neighbour, unreadableEntry, markUnreadable, showUnreadable, setDrawingEnabled } from './panels/images.js';
import { flash, setToolInfo } from './panels/status.js';
import { newId, fromJSON, extrasOf, topZ, bottomZ } from './objects.js';
import { polygonToMask, isEmptyMask } from './mask/canvas.js';
import { maskToPolygons } from './topolygon.js';
import { savePrefs } from './prefs.js';
import { openModelGet } from './modelget.js';

const $ = (id) => document.getElementById(id);

/** The app over a View and a History; its `tools` (name -> tool) are filled in by the caller. */
export function createAnnotator(view, history) {
  const canvasEl = view.canvas;
  const tools = {};
  let embedPromise = Promise.resolve();
  let loadSeq = 0;

  const app = {
    view,
    tools,

    /** Records the current object list as one undoable step and autosaves it. */
    commit() {
      byZ(state.objects).forEach((o, i) => { o.z = i; });
      history.push(state.objects);
      autosave.schedule();
      emit('objects');
      view.render();
    },

    select(id) {
      state.selectedId = id;
      emit('objects');
      view.render();
    },

    setLabel(id) {
      state.currentLabelId = id;
      savePrefs();
      emit('labels');
    },

    /** False (after saying why) when the object's label is locked. */
    unlocked(o) {
      if (!isLocked(o)) return true;
      const l = labelById(o.label_id);
      app.flash(`"${l ? l.name : 'Its label'}" is locked (Labels panel): unlock it to change its objects.`);
      return false;
    },

    /** The current label id, or null after telling the user to add one. */
    requireLabel() {
      if (labelById(state.currentLabelId)) return state.currentLabelId;
      app.flash('Add a label first (label bar, top right).');
      return null;
    },

    flash,
    setToolInfo,

    embeddingReady() { return embedPromise; },

    getTolerance() { return Number($('wand-tolerance').value); },
    setTolerance(t) { $('wand-tolerance').value = t; $('wand-tolerance-value').textContent = t; },

    /** Turns an accepted preview mask into an object (mask, or polygons via the server). */
    async accept(canvas) {
      const label = app.requireLabel();
      if (label == null) return;
      if (isEmptyMask(canvas)) { app.flash('The mask is empty: nothing to add.'); return; }
      const polys = $('accept-as').value === 'polygon'
        ? await maskToPolygons(app, canvas, Number($('simplify').value)) : null;
      if (polys) {
        let z = topZ(state.objects);
        for (const poly of polys) {
          const obj = { id: newId(), label_id: label, kind: 'polygon', z: z++, hidden: false, polygon: poly };
          state.objects.push(obj);
          state.selectedId = obj.id;
        }
      } else {
        const obj = { id: newId(), label_id: label, kind: 'mask', z: topZ(state.objects), hidden: false, canvas };
        state.objects.push(obj);
        state.selectedId = obj.id;
      }
      app.commit();
    },

    setObjectLabel(id, labelId) {
      const o = state.objects.find((x) => x.id === id);
      if (!o || o.label_id === labelId) return;
      if (!app.unlocked(o)) { emit('objects'); return; }
      o.label_id = labelId;
      app.commit();
    },

    async objectAction(id, action) {
      const o = state.objects.find((x) => x.id === id);
      if (!o) return;
      if (action !== 'hide' && !app.unlocked(o)) return;
      const sorted = byZ(state.objects);
      const i = sorted.indexOf(o);
      switch (action) {
        case 'up': case 'down': {
          const other = sorted[action === 'up' ? i + 1 : i - 1];
          if (!other) return;
          [o.z, other.z] = [other.z, o.z];
          break;
        }
        case 'front': if (i === sorted.length - 1) return; o.z = topZ(state.objects); break;
        case 'back': if (i === 0) return; o.z = bottomZ(state.objects); break;
        case 'hide': o.hidden = !o.hidden; break;
        case 'delete':
          state.objects = state.objects.filter((x) => x !== o);
          if (state.selectedId === id) state.selectedId = null;
          break;
        case 'convert':
          if (o.kind === 'polygon') {
            o.canvas = polygonToMask(o.polygon, state.width, state.height);
            o.kind = 'mask';
            delete o.polygon;
          } else {
            const polys = await maskToPolygons(app, o.canvas, Number($('simplify').value));
            if (!polys) return;
            const at = state.objects.indexOf(o);
            if (at < 0) return;
            const pieces = polys.map((poly, k) => ({
              id: k === 0 ? o.id : newId(), label_id: o.label_id, kind: 'polygon', z: o.z, hidden: o.hidden, polygon: poly,
              ...extrasOf(o),
            }));
            state.objects.splice(at, 1, ...pieces);
          }
          break;
        default: return;
      }
      app.commit();
    },

    undo() { restore(history.undo()); },
    redo() { restore(history.redo()); },

    async openImage(name) {
      const seq = ++loadSeq;
      await autosave.flush();
      let ann, image;
      try {
        if (unreadableEntry(name)) throw new ApiError(415, unreadableEntry(name).error);
        [ann, image] = await Promise.all([api.annotations(name), loadImage(api.imageUrl(name))]);
      } catch (e) {
        if (e.status !== 415 || seq !== loadSeq) { app.flash(e.message); return; }
        if (!unreadableEntry(name)) markUnreadable(name, e.message);   // found on opening it
        for (const t of Object.values(tools)) t.deactivate && t.deactivate();
        showUnreadable(unreadableEntry(name));
        history.reset([]);
        autosave.resetSaves();
        if (location.hash.slice(1) !== encodeURIComponent(name)) setHash(name);
        emit('objects', 'images');
        view.render();
        return;
      }
      setDrawingEnabled(true);
      const objects = ann.objects.map((j) => fromJSON(j, labelColor(j.label_id)));
      await autosave.flush();   // edits made to the old image while this one loaded
      if (seq !== loadSeq) return;
      for (const t of Object.values(tools)) t.deactivate && t.deactivate();
      Object.assign(state, {
        imageName: name, image, width: ann.width, height: ann.height, version: ann.version,
        objects, selectedId: null, preview: null,
      });
      history.reset(objects);
      autosave.resetSaves();
      const entry = state.images.find((i) => i.name === name);
      if (entry) entry.objects = objects.length;   // the list agrees with what was loaded
      if (location.hash.slice(1) !== encodeURIComponent(name)) setHash(name);
      view.fit();
      emit('objects', 'images');
      startEmbedding(name);
    },

    /** Opens the previous (-1) / next (+1) image among those the list shows. */
    step(delta) {
      const name = neighbour(delta);
      if (name) app.openImage(name);
    },

    setTool(name) {
      if (name === 'aiwand' && !state.model.loaded) { openModelGet(app); return; }
      if (!tools[name] || name === state.tool) return;
      const old = tools[state.tool];
      if (old.deactivate) old.deactivate();
      state.tool = name;
      view.overlay = (ctx, v) => tools[state.tool].overlay && tools[state.tool].overlay(ctx, v);
      canvasEl.style.cursor = tools[name].cursor;
      emit('tool');
      view.render();
    },

    /** Asks the server which model it holds now (after the page fetched one) and starts using it. */
    async reloadModel() {
      state.model = await api.model();
      emit('model');
      if (state.imageName) startEmbedding(state.imageName);
    },

    addBackground() {
      const label = app.requireLabel();
      if (label == null || !state.image) return;
      const { width: w, height: h } = state;
      const obj = { id: newId(), label_id: label, kind: 'polygon', z: bottomZ(state.objects), hidden: false,
        polygon: [[0, 0], [w, 0], [w, h], [0, h]] };
      state.objects.push(obj);
      app.commit();
    },
  };

  function restore(objects) {
    if (!objects) return;
    state.objects = objects;
    if (!state.objects.some((o) => o.id === state.selectedId)) state.selectedId = null;
    autosave.schedule();
    emit('objects');
    view.render();
  }

  function startEmbedding(name) {
    if (!state.model.loaded) { state.embedding = 'none'; emit('model'); return; }
    state.embedding = 'encoding';
    emit('model');
    const t0 = performance.now();
    embedPromise = api.embedding(name).then((r) => {
      if (state.imageName !== name) return;
      state.embedding = 'ready';
      state.model.warning = r.model_warning || null;
      state.embeddingInfo = `${r.cached ? 'cached' : 'encoded in ' + r.ms.toFixed(0) + ' ms'} (${(performance.now() - t0).toFixed(0)} ms round trip)`;
      emit('model');
    }, (e) => {
      if (state.imageName !== name) return;
      state.embedding = 'error';
      state.embeddingInfo = e.message;
      emit('model');
      throw e;
    });
    embedPromise.catch(() => {});
  }

  return app;
}

function setHash(name) {
  window.history.replaceState(null, '', '#' + encodeURIComponent(name));
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onerror = () => reject(new Error('Could not load the image ' + url));
    img.src = url;
    // decoded off the main thread now, not at the first draw
    img.decode().then(() => resolve(img), () => { if (img.complete && img.naturalWidth) resolve(img); });
  });
}
