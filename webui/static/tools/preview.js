// The request -> preview cycle both wands share: a request (at most one in flight, the last
// state wins) whose answer becomes the mask preview awaiting Enter / Esc, unless the tool was
// reset or another image opened meanwhile.

import { state } from '../state.js';
import { lazyPreview, previewMask } from '../mask/boxruns.js';
import { coalesce } from './coalesce.js';

/** ask(isCurrent) fetches the answer ({mask, ...}; undefined to show nothing); describe(r) is the
 * tool line shown with its preview, extra(r) more fields for state.preview. */
export function createPreviewCycle(app, source, { ask, describe, extra = () => ({}), clearInfoOnError = false }) {
  let gen = 0;

  const request = coalesce(async () => {
    const myGen = gen, name = state.imageName;
    const isCurrent = () => myGen === gen && name === state.imageName;
    try {
      const r = await ask(isCurrent);
      if (!r) return;
      if (!isCurrent()) return;
      // (assigned, not spread: spreading would read the lazy canvases)
      state.preview = Object.assign(lazyPreview(r.mask, null, app.view.scale), { source }, extra(r));
      app.setToolInfo(describe(r));
      app.view.render();
    } catch (e) {
      if (clearInfoOnError) app.setToolInfo('');
      app.flash(e.message);
    }
  });

  return {
    request,
    /** Answers to requests made before this call are dropped. */
    invalidate() { gen++; },
    /** invalidate() and the preview of this tool gone. */
    clear() {
      gen++;
      if (state.preview && state.preview.source === source) state.preview = null;
    },
    showing() { return !!(state.preview && state.preview.source === source); },
    /** The full-resolution mask of the preview shown. */
    mask() { return previewMask(state.preview); },
  };
}
