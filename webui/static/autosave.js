// Autosave: after each change the whole object list is PUT with the version
// it was loaded at. A 409 (changed elsewhere) stops saving and shows the
// server's message with the choice of keeping mine (overwrite) or taking theirs;
// nothing is ever overwritten silently.

import { state, emit } from './state.js';
import { api } from './api.js';
import { toJSON } from './objects.js';

const DELAY_MS = 300;
const RETRY_MS = 3000;

let timer = null;
let dirty = false;
let inflight = null;

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

/** Forgets pending changes (after loading an image). */
export function resetSaves() {
  clearTimeout(timer);
  timer = null;
  dirty = false;
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
  const objects = state.objects.map(toJSON);
  setStatus('saving');
  const job = (async () => {
    try {
      const r = await api.saveAnnotations(name, state.version, objects);
      if (state.imageName === name) state.version = r.version;
      const img = state.images.find((i) => i.name === name);
      if (img) { img.objects = objects.length; emit('images'); }
      setStatus(dirty ? 'unsaved' : 'saved');
    } catch (e) {
      if (e.status === 409) {
        setStatus('conflict', e.message);
      } else {
        dirty = true;
        setStatus('error', e.message);
        // the server unreachable or failing: try again; a 4xx waits for the next change
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
  dirty = true;
  setStatus('unsaved');
  return flush();
}

export const hasUnsaved = () => dirty || !!inflight;
