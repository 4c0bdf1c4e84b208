// The page's single mutable state and a tiny change-notification hub.

export const state = {
  images: [],            // [{name, width, height, objects}]
  unreadable: [],        // [{name, error}]: image files that cannot be read
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
  outlineOnly: false,     // draw objects as outlines only
  paintUnlabelled: false, // the brush paints only pixels no other object covers
  hiddenLabels: new Set(),  // label ids whose objects are not drawn (a view setting)
  lockedLabels: new Set(),  // label ids whose objects cannot be selected or changed
  hover: null,            // {id, sx, sy}: object under the mouse (screen point) for its name tag
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

/** Drawn on the canvas: not hidden itself and its label not hidden. */
export function isShown(o) {
  return !o.hidden && !state.hiddenLabels.has(o.label_id);
}

/** Its label is locked: it cannot be selected, edited, erased or deleted. */
export function isLocked(o) {
  return state.lockedLabels.has(o.label_id);
}

/** Relative luminance (0 black .. 1 white) of a #rrggbb colour. */
export function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
