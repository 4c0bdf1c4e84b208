// Autosave: after each change, what changed since the last save is PATCHed with the version
// it was loaded at: objects added or whose shape changed (in full), masks changed by brush or
// eraser strokes (the pixels of the strokes' box only, "paint"), label / z / hidden changes
// (those fields only) and deleted ids. A 409 (changed elsewhere) stops saving and shows the
// server's message with the choice of keeping mine (the whole list is PUT over theirs) or taking
// theirs; nothing is ever overwritten silently.

import { state, emit } from './state.js';
import { api } from './api.js';
import { toJSON, round2 } from './objects.js';
import { changedRect, maskBBox } from './mask/canvas.js';
import { regionToBoxRuns } from './mask/boxruns.js';

const DELAY_MS = 300;
const RETRY_MS = 3000;

let timer = null;
let dirty = false;
let inflight = null;
let saved = new Map();   // id -> signature of the object as the server has it
let replaceAll = false;  // "keep mine" after a conflict: the next save PUTs the whole list
let paintSaves = true;   // masks changed in a box are sent as that box (off: whole, to compare)

/** Turns saving a stroke's box instead of the whole mask on or off (benchmarks compare both). */
export function setPaintSaves(on) { paintSaves = !!on; }

/** The "paint" entry {id, box, runs} that turns the mask saved as `old` into o's mask (their
 * lineage says they differ only in a rect, which is smaller than the mask), else null. */
function paintOf(old, o) {
  if (!paintSaves || old.kind !== 'mask' || o.kind !== 'mask') return null;
  const rect = changedRect(old.canvas, old.v, o.canvas);
  if (rect === undefined) return null;
  const box = maskBBox(o.canvas);
  if (!box) return null;   // emptied: the whole (empty) mask is smaller still
  const r = rect ? [Math.max(0, rect[0]), Math.max(0, rect[1]), Math.min(state.width, rect[2]),
    Math.min(state.height, rect[3])] : [0, 0, 0, 0];
  if (r[2] <= r[0] || r[3] <= r[1]) return { id: o.id, box: [0, 0, 0, 0], runs: [] };
  if ((r[2] - r[0]) * (r[3] - r[1]) >= (box[2] - box[0]) * (box[3] - box[1])) return null;
  return { id: o.id, ...regionToBoxRuns(o.canvas, r) };
}

/** What a save compares: mask canvases are never changed once shown (tools copy first), so
 * the canvas and its version stand for the shape. */
function signature(o) {
  return {
    kind: o.kind, label_id: o.label_id, z: o.z, hidden: !!o.hidden,
    canvas: o.kind === 'mask' ? o.canvas : null, v: o.kind === 'mask' ? o.canvas._v : null,
    polygon: o.kind === 'polygon' ? JSON.stringify(o.polygon.map(([x, y]) => [round2(x), round2(y)])) : null,
  };
}

/** {upsert, paint, update, delete} turning `before` (id -> signature) into `objects`, and the new map. */
function changes(before, objects) {
  const body = { upsert: [], paint: [], update: [], delete: [] };
  const after = new Map();
  for (const o of objects) {
    const sig = signature(o);
    after.set(o.id, sig);
    const old = before.get(o.id);
    if (!old || old.kind !== sig.kind || old.canvas !== sig.canvas || old.v !== sig.v || old.polygon !== sig.polygon) {
      const paint = old && paintOf(old, o);
      if (!paint) { body.upsert.push(toJSON(o)); continue; }
      body.paint.push(paint);   // label / z / hidden changes go as an update beside it
    }
    const u = { id: o.id };
    for (const k of ['label_id', 'z', 'hidden']) if (old[k] !== sig[k]) u[k] = sig[k];
    if (Object.keys(u).length > 1) body.update.push(u);
  }
  for (const id of before.keys()) if (!after.has(id)) body.delete.push(id);
  return [body, after];
}

function setStatus(status, message = '') {
  state.save = { status, message };
  emit('save');
}

export function schedule() {
  if (state.save.status === 'conflict') return;
  dirty = true;
  setStatus('unsaved');
  clearTimeout(timer);
  timer = setTimeout(() => { flush(); }, DELAY_MS);
}

/** Forgets pending changes (after loading an image): state.objects is what the server has. */
export function resetSaves() {
  clearTimeout(timer);
  timer = null;
  dirty = false;
  saved = new Map();
  for (const o of state.objects) saved.set(o.id, signature(o));
  setStatus('saved');
}

/** Saves now if anything is pending; resolves when the server answered. */
export async function flush() {
  clearTimeout(timer);
  timer = null;
  while (inflight) await inflight;   // one PUT at a time: each needs the previous version
  if (!dirty || state.save.status === 'conflict' || !state.imageName) return;
  clearTimeout(timer);
  timer = null;
  dirty = false;
  const name = state.imageName;
  const count = state.objects.length;
  const [body, after] = changes(saved, state.objects);
  const full = replaceAll ? state.objects.map(toJSON) : null;
  setStatus('saving');
  const job = (async () => {
    try {
      // sent also when nothing differs (a new version, as every save makes)
      const r = full ? await api.saveAnnotations(name, state.version, full)
        : await api.saveChanges(name, state.version, body);
      replaceAll = false;
      if (state.imageName === name) { state.version = r.version; saved = after; }
      const img = state.images.find((i) => i.name === name);
      if (img) { img.objects = count; emit('images'); }
      setStatus(dirty ? 'unsaved' : 'saved');
    } catch (e) {
      if (e.status === 409) {
        setStatus('conflict', e.message);
      } else {
        dirty = true;
        setStatus('error', e.message);
        // the server unreachable or failing (507: its disk is full): keep the edits, try again; a 4xx waits for the next change
        if (e.status === 0 || e.status >= 500) timer = setTimeout(() => { flush(); }, RETRY_MS);
      }
    } finally {
      inflight = null;
    }
  })();
  inflight = job;
  await job;
  if (dirty && state.save.status === 'unsaved') return flush();
}

/** "Keep mine": after a conflict, saves the page's objects over `storedVersion` (the version
 * the server has now, read just before). */
export function overwrite(storedVersion) {
  state.version = storedVersion;
  replaceAll = true;
  dirty = true;
  setStatus('unsaved');
  return flush();
}

/** Objects the server stored itself at `version` (accepted pre-label proposals): not sent again. */
export function adopt(version, objects) {
  state.version = version;
  for (const o of objects) saved.set(o.id, signature(o));
}

export const hasUnsaved = () => dirty || !!inflight;
