// The image list: per-image status (to do / in progress / done / skipped) with counts,
// thumbnails, a status filter and a name search; "done, next" and "next to do".

import { state, emit } from '../state.js';
import { api } from '../api.js';

export const STATUSES = ['todo', 'in_progress', 'done', 'skipped'];
export const STATUS_TITLES = { todo: 'to do', in_progress: 'in progress', done: 'done', skipped: 'skipped' };

const $ = (id) => document.getElementById(id);
const rows = new Map();   // image name -> <li>, kept between renders (thumbnails load once)

/** The status shown: the one the user set, else by whether the image has objects. */
export function statusOf(img) {
  return img.marked || (img.objects > 0 ? 'in_progress' : 'todo');
}

function matches(img) {
  const want = $('status-filter').value;
  const text = $('image-search').value.trim().toLowerCase();
  return (!want || statusOf(img) === want) && (!text || img.name.toLowerCase().includes(text));
}

// The name, cut in the middle when too long, so names that differ near the end (frame numbers,
// dive_01 / dive_02) stay apart: the head shrinks with an ellipsis, the tail always shows.
const TAIL = 9;
function nameCell(text) {
  const cell = document.createElement('span');
  cell.className = 'name';
  const head = document.createElement('span');
  head.className = 'head';
  head.textContent = text.length > TAIL ? text.slice(0, -TAIL) : '';
  const tail = document.createElement('span');
  tail.className = 'tail';
  tail.textContent = text.length > TAIL ? text.slice(-TAIL) : text;
  cell.append(head, tail);
  return cell;
}

function row(app, img) {
  let li = rows.get(img.name);
  if (li) return li;
  li = document.createElement('li');
  li.dataset.name = img.name;
  li.title = `${img.name} (${img.width} x ${img.height})`;
  const thumb = document.createElement('img');
  thumb.className = 'thumb';
  thumb.loading = 'lazy';
  thumb.alt = '';
  thumb.src = api.thumbnailUrl(img.name);
  const name = nameCell(img.name);
  const badge = document.createElement('span');
  badge.className = 'status';
  const count = document.createElement('span');
  count.className = 'count';
  li.append(thumb, name, badge, count);
  li.addEventListener('click', () => app.openImage(img.name));
  rows.set(img.name, li);
  return li;
}

function unreadableRow(app, img) {
  const key = '\u0000unreadable:' + img.name;
  let li = rows.get(key);
  if (!li) {
    li = document.createElement('li');
    li.dataset.name = img.name;
    li.title = img.error;
    const name = nameCell(img.name);
    const badge = document.createElement('span');
    badge.className = 'status';
    badge.textContent = 'cannot be read';
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = '!';
    li.append(name, badge, count);
    li.addEventListener('click', () => app.openImage(img.name));
    rows.set(key, li);
  }
  li.className = 'unreadable' + (img.name === state.imageName ? ' current' : '');
  return li;
}

/** The list's entry for an image that cannot be read (see GET /api/images), or undefined. */
export function unreadableEntry(name) {
  return (state.unreadable || []).find((u) => u.name === name);
}

/** Moves an image the server refused to read (415 on open) from the list to the unreadable ones. */
export function markUnreadable(name, error) {
  state.images = state.images.filter((i) => i.name !== name);
  if (!unreadableEntry(name)) state.unreadable = [...(state.unreadable || []), { name, error }];
  emit('images');
}

/** Shows an unreadable image's place: no picture, the reason over the canvas, drawing tools off. */
export function showUnreadable(entry) {
  Object.assign(state, { imageName: entry.name, image: null, width: 0, height: 0, version: 0,
    objects: [], selectedId: null, preview: null });
  let box = $('unreadable-reason');
  if (!box) {
    box = document.createElement('div');
    box.id = 'unreadable-reason';
    box.setAttribute('role', 'alert');
    ($('canvas-box') || $('stage')).append(box);
  }
  box.textContent = `${entry.name} cannot be read, so it cannot be annotated: ${entry.error} ` +
    'It is left out of "next to do" and of exports; replace the file to annotate it.';
  box.hidden = false;
  setDrawingEnabled(false);
}

/** Drawing tools and "Whole image" on or off (off while an unreadable image is open). */
export function setDrawingEnabled(on) {
  for (const b of document.querySelectorAll('#tools button, #btn-background')) b.disabled = !on;
  const box = $('unreadable-reason');
  if (on && box) box.hidden = true;
}

export function renderImages(app) {
  const list = $('image-list');
  const annotated = state.images.filter((i) => i.objects > 0).length;
  const total = state.images.length;
  $('progress-text').textContent = `${annotated} / ${total} annotated`;
  $('progress-bar').style.width = total ? `${(100 * annotated) / total}%` : '0';
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  let shown = 0;
  const items = state.images.map((img) => {
    const li = row(app, img);
    const status = statusOf(img);
    counts[status]++;
    li.className = (img.name === state.imageName ? 'current' : '') + (img.objects > 0 ? ' done' : '');
    li.dataset.status = status;
    li.querySelector('.status').textContent = STATUS_TITLES[status];
    li.querySelector('.count').textContent = String(img.objects);
    li.hidden = !matches(img);
    if (!li.hidden) shown++;
    return li;
  });
  // files that look like images but cannot be read: listed with the reason, not openable
  items.push(...(state.unreadable || []).map((img) => unreadableRow(app, img)));
  if (list.children.length !== items.length || items.some((li, i) => list.children[i] !== li)) {
    list.replaceChildren(...items);
  }
  $('status-counts').replaceChildren(...STATUSES.map((s) => {
    const b = document.createElement('button');
    b.className = 'count-chip' + ($('status-filter').value === s ? ' active' : '');
    b.dataset.status = s;
    b.textContent = `${STATUS_TITLES[s]} ${counts[s]}`;
    b.title = `Show only images ${STATUS_TITLES[s]} (click again for all)`;
    b.addEventListener('click', () => setFilter($('status-filter').value === s ? '' : s));
    return b;
  }));
  $('list-empty').hidden = shown > 0;
  const current = state.images.find((i) => i.name === state.imageName);
  if (current) $('image-status').value = statusOf(current);
  const cur = list.querySelector('li.current');
  if (cur && !cur.hidden) cur.scrollIntoView({ block: 'nearest' });
}

function setFilter(value) {
  $('status-filter').value = value;
  emit('images');
}

/** The image `delta` steps away among those the filter shows (from the open one). */
export function neighbour(delta) {
  const i = state.images.findIndex((x) => x.name === state.imageName);
  for (let j = i + delta; j >= 0 && j < state.images.length; j += delta) {
    if (matches(state.images[j])) return state.images[j].name;
  }
  return null;
}

export async function setStatus(app, name, status) {
  const img = state.images.find((x) => x.name === name);
  if (!img) return false;
  try {
    await api.setStatus(name, status);
  } catch (e) { app.flash(e.message); return false; }
  img.marked = status;
  emit('images');
  return true;
}

/** Marks the open image done and opens the next one the list shows; after the list's last
 * image, the next one still to do (from the top). "Last" is said only when none is left. */
export async function doneNext(app) {
  if (!state.imageName) return;
  const next = neighbour(1);
  if (!(await setStatus(app, state.imageName, 'done'))) return;
  const todo = next ? null : nextTodoName();
  if (next || todo) app.openImage(next || todo);
  else app.flash('Marked done; that was the last image left to do.');
}

/** The next image (after the open one, wrapping) whose status is "to do", or null. */
function nextTodoName() {
  const n = state.images.length;
  const i = state.images.findIndex((x) => x.name === state.imageName);
  for (let k = 1; k <= n; k++) {
    const img = state.images[(i + k + n) % n];
    if (statusOf(img) === 'todo' && img.name !== state.imageName) return img.name;
  }
  return null;
}

/** Opens the next image (after the open one, wrapping) whose status is "to do". */
export function nextTodo(app) {
  const name = nextTodoName();
  if (name) app.openImage(name);
  else app.flash('No other image is left to do.');
}

/** The image the address bar names (#name), when it is one of the folder's. */
export function hashImage() {
  const wanted = decodeURIComponent(location.hash.slice(1));
  return state.images.find((i) => i.name === wanted) || unreadableEntry(wanted);
}

export function setupImageList(app) {
  $('status-filter').addEventListener('change', (e) => { e.target.blur(); emit('images'); });
  $('image-search').addEventListener('input', () => emit('images'));
  $('image-search').addEventListener('keydown', (e) => {
    if (e.key === 'Escape' || e.key === 'Enter') e.target.blur();
  });
  $('image-status').addEventListener('change', (e) => {
    e.target.blur();
    if (state.imageName) setStatus(app, state.imageName, e.target.value);
  });
  $('btn-done-next').addEventListener('click', () => doneNext(app));
  $('btn-next-todo').addEventListener('click', () => nextTodo(app));
  // an address typed or set in this tab (#name.jpg) opens that image, so the two agree
  window.addEventListener('hashchange', () => {
    const img = hashImage();
    if (img && img.name !== state.imageName) app.openImage(img.name);
  });
}
