// The side panels' toggles: the image list (left) and the tool options with the object list
// (right) collapse to a strip, giving the canvas the room; kept in the preferences.

import { collapsedPanels, saveCollapsedPanels } from '../prefs.js';

const ARROWS = { left: ['\u00ab', '\u00bb'], right: ['\u00bb', '\u00ab'] };   // [open, collapsed]
const NAMES = { left: 'the image list', right: 'the tool options and the object list' };

function show(aside, side, collapsed) {
  aside.classList.toggle('collapsed', collapsed);
  const b = aside.querySelector(':scope > .panel-toggle');
  b.textContent = ARROWS[side][collapsed ? 1 : 0];
  b.title = collapsed ? `Show ${NAMES[side]}` : `Hide ${NAMES[side]} (more room for the image)`;
  b.setAttribute('aria-expanded', String(!collapsed));
}

export function setupSidePanels() {
  const kept = new Set(collapsedPanels());
  for (const side of ['left', 'right']) {
    const aside = document.getElementById(side);
    show(aside, side, kept.has(side));
    aside.querySelector(':scope > .panel-toggle').addEventListener('click', () => {
      const collapsed = !aside.classList.contains('collapsed');
      show(aside, side, collapsed);
      if (collapsed) kept.add(side); else kept.delete(side);
      saveCollapsedPanels(kept);
    });
  }
}
