// Propagate: the open image's objects sent forward through the next K images of the folder (name order) by
// SAM 2.1's video predictor on the server (/api/images/<name>/propagate), in the background with its
// progress shown and a Cancel. Each propagated object lands on the later image as an ordinary object of its
// label, marked "propagated" in the object list until it is edited; an image already holding an object of
// the same label where it would land is left as it is. An object that is lost stops, and the message says
// on which image. Its control sits above the object list (the objects it sends).

import { state, emit } from '../state.js';
import { api } from '../api.js';
import * as autosave from '../autosave.js';
import { shapeKey } from '../coverage.js';

const POLL_MS = 400;
const path = (name) => `/api/images/${name.split('/').map(encodeURIComponent).join('/')}/propagate`;
const post = (url, body) => fetch(url, {
  method: 'POST', headers: { 'X-Edgemask': '1', 'Content-Type': 'application/json' }, body: JSON.stringify(body),
}).then(async (r) => {
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || `HTTP ${r.status}`);
  return j;
});

/** The image an object was propagated from while it is as Propagate wrote it (its label and shape as
 *  loaded), else null: any edit on the page clears the mark, as the server's does on the save. */
export function propagatedFrom(o) {
  if (!o.propagated) return null;
  const key = `${o.label_id}|${shapeKey(o)}`;
  if (o._propagatedKey === undefined) o._propagatedKey = key;   // first seen as loaded
  return o._propagatedKey === key ? o.propagated : null;
}

export function setupPropagate(app) {
  const group = document.createElement('div');
  group.id = 'propagate';
  group.innerHTML = '<button id="btn-propagate" title="Propagate this image\'s objects to the next images '
    + '(SAM 2.1 with its video parts); nothing already drawn there is overwritten">Propagate</button>'
    + '<label title="How many of the next images">to next <input id="propagate-k" type="number" min="1" max="100" value="5"></label>'
    + '<span id="propagate-status" role="status"></span><span class="bar" hidden><span></span></span>'
    + '<button id="btn-propagate-cancel" hidden title="Stop propagating (what is done stays)">Cancel</button>';
  const anchor = document.getElementById('object-count');
  (anchor ? anchor.parentElement : document.getElementById('right')).before(group);
  const $ = (sel) => group.querySelector(sel);
  let running = null, timer = null;

  function show(job) {
    const busy = job && job.state === 'running';
    $('#btn-propagate').disabled = !!busy;
    $('#btn-propagate-cancel').hidden = !busy;
    $('.bar').hidden = !busy;
    $('.bar span').style.width = `${busy && job.total ? (100 * job.done) / job.total : 0}%`;
    $('#propagate-status').textContent = !job ? '' : busy
      ? `Propagating: ${job.done} of ${job.total} images` : job.message;
    group.dataset.state = job ? job.state : 'idle';
  }

  async function refreshImages() {
    try { state.images = (await api.images()).images; } catch (e) { return; }
    emit('images');
  }

  async function poll() {
    let job;
    try { job = await fetch(path(running), { headers: { 'X-Edgemask': '1' } }).then((r) => r.json()); } catch (e) { job = null; }
    if (job && job.state === 'running') { show(job); timer = setTimeout(poll, POLL_MS); return; }
    running = null;
    show(job);
    if (job && job.message) app.flash(job.message);
    refreshImages();
  }

  async function start() {
    if (!state.imageName || running) return;
    const k = Number($('#propagate-k').value);
    await autosave.flush();   // the server propagates what is saved
    try {
      const job = await post(path(state.imageName), { k });
      running = state.imageName;
      show(job);
      timer = setTimeout(poll, POLL_MS);
    } catch (e) {
      show({ state: 'error', message: e.message });
      app.flash(e.message);
    }
  }

  async function cancel() {
    if (!running) return;
    clearTimeout(timer);
    try { await post(`${path(running)}/cancel`, {}); } catch (e) { app.flash(e.message); }
    timer = setTimeout(poll, 50);
  }

  $('#btn-propagate').addEventListener('click', start);
  $('#btn-propagate-cancel').addEventListener('click', cancel);
  return { start, cancel };
}
