// View and tool settings kept across reloads in the browser's localStorage: brush size,
// opacity, current label, outline view, "paint only unlabelled pixels", hidden / locked labels,
// collapsed side panels. Nothing here is annotation data (that lives in the server's store).

import { state } from './state.js';

const KEY = 'edgemask.prefs';

function stored() {
  try { return JSON.parse(localStorage.getItem(KEY) || '{}') || {}; } catch { return {}; }
}

function store(p) {
  try { localStorage.setItem(KEY, JSON.stringify(p)); } catch { /* private mode: not kept */ }
}

export function loadPrefs() {
  const p = stored();
  const num = (v, lo, hi, d) => (typeof v === 'number' && v >= lo && v <= hi ? v : d);
  state.brushSize = Math.round(num(p.brushSize, 1, 200, state.brushSize));
  state.opacity = num(p.opacity, 0, 1, state.opacity);
  state.outlineOnly = p.outlineOnly === true;
  state.paintUnlabelled = p.paintUnlabelled === true;
  state.hiddenLabels = new Set(Array.isArray(p.hiddenLabels) ? p.hiddenLabels : []);
  state.lockedLabels = new Set(Array.isArray(p.lockedLabels) ? p.lockedLabels : []);
  return { currentLabelId: Number.isInteger(p.currentLabelId) ? p.currentLabelId : null };
}

export function savePrefs() {
  const p = {
    brushSize: state.brushSize, opacity: state.opacity, currentLabelId: state.currentLabelId,
    outlineOnly: state.outlineOnly, paintUnlabelled: state.paintUnlabelled,
    hiddenLabels: [...state.hiddenLabels], lockedLabels: [...state.lockedLabels],
    collapsed: collapsedPanels(),
  };
  store(p);
}

/** The side panels ('left', 'right') kept collapsed. */
export function collapsedPanels() {
  const c = stored().collapsed;
  return Array.isArray(c) ? c.filter((x) => x === 'left' || x === 'right') : [];
}

export function saveCollapsedPanels(panels) {
  store({ ...stored(), collapsed: [...panels] });
}
