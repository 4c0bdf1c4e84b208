// The page's single mutable state and a tiny change-notification hub.

export const state = {
  images: [],            // [{name, width, height, objects}]
  labels: [],            // [{id, name, color}]
  currentLabelId: null,
  model: { loaded: false, name: null, message: '' },

  imageName: null,
  image: null,           // HTMLImageElement of the open image
  width: 0,
  height: 0,
  version: 0,
  objects: [],           // [{id, label_id, kind, z, hidden, polygon | canvas}]
  selectedId: null,

  tool: 'select',
  brushSize: 20,
  opacity: 0.45,
  preview: null,         // {canvas, source: 'ai' | 'wand'} mask awaiting Enter / Esc
  embedding: 'none',     // none | encoding | ready | error
  save: { status: 'saved', message: '' },  // saved | unsaved | saving | error | conflict
};

const listeners = new Map();

/** Subscribe fn to a topic ('objects', 'labels', 'images', 'view', 'save', 'tool', 'model'). */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
}

export function emit(...topics) {
  for (const t of topics) for (const fn of listeners.get(t) || []) fn();
}

export function labelById(id) {
  return state.labels.find((l) => l.id === id) || null;
}

export function labelColor(id) {
  const l = labelById(id);
  return l ? l.color : '#ff00ff';
}

export function selectedObject() {
  return state.objects.find((o) => o.id === state.selectedId) || null;
}

export function byZ(objects) {
  return [...objects].sort((a, b) => a.z - b.z);
}
