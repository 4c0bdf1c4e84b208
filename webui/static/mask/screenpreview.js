// A mask preview in the API's box-runs form drawn straight at the screen's resolution: each
// device pixel of the view shows the mask pixel under its centre (nearest, as drawImage without
// smoothing would), filled with the preview's stripes. Only the box's visible part is rasterised,
// once per mask and view (zoom, pan, canvas size); a 12 MP mask is never drawn at full size.

function word(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;   // little-endian RGBA
}

/** Draws previews of box-runs masks for one view; keeps the last raster while nothing changed. */
export class ScreenPreview {
  /** stripes: two '#rrggbb' colours in diagonal bands of `period` device px (half each). */
  constructor(stripes, period = 12) {
    this.words = stripes.map(word);
    this.period = period;
    this.layer = null;
    this.key = null;
    this.at = null;   // [x, y] of the layer on the canvas (device px), or null: nothing visible
    this.pattern = null;
  }

  /** Draws mask m (box-runs) with the view's transform onto ctx at `alpha`. */
  draw(ctx, m, view, dpr, alpha) {
    const { width, height } = ctx.canvas;
    const key = [view.scale, view.ox, view.oy, dpr, width, height];
    if (this.mask !== m || !this.key || key.some((v, i) => v !== this.key[i])) {
      this.mask = m;
      this.key = key;
      this._raster(m, view.scale * dpr, view.ox * dpr, view.oy * dpr, width, height);
    }
    if (!this.at) return;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = alpha;
    ctx.drawImage(this.layer, this.at[0], this.at[1]);
    ctx.restore();
  }

  /** The stripe word of device column i on a row whose phase is p: pattern[i + p]. */
  _pattern(width) {
    const n = width + this.period;
    if (this.pattern && this.pattern.length >= n) return this.pattern;
    const p = new Uint32Array(n), half = this.period / 2;
    for (let i = 0; i < n; i++) p[i] = this.words[(i % this.period) < half ? 0 : 1];
    this.pattern = p;
    return p;
  }

  _raster(m, s, ox, oy, width, height) {
    this.at = null;
    const [x0, y0, x1, y1] = m.box;
    const w = x1 - x0, h = y1 - y0;
    if (w <= 0 || h <= 0) return;
    // device pixels whose centres fall in the box: column c shows image x = (c + 0.5 - ox) / s
    const first = (v, o) => Math.ceil(v * s + o - 0.5);
    const cx0 = Math.max(0, first(x0, ox)), cx1 = Math.min(width, first(x1, ox));
    const cy0 = Math.max(0, first(y0, oy)), cy1 = Math.min(height, first(y1, oy));
    if (cx1 <= cx0 || cy1 <= cy0) return;
    const rw = cx1 - cx0, rh = cy1 - cy0;
    const layer = this.layer || (this.layer = document.createElement('canvas'));
    if (layer.width !== rw || layer.height !== rh) { layer.width = rw; layer.height = rh; }
    const g = layer.getContext('2d');
    // the last raster's pixels, cleared, when the size is the same (no new 4 MB each frame of a pan)
    let img = this.img;
    if (img && img.width === rw && img.height === rh) new Uint32Array(img.data.buffer).fill(0);
    else img = this.img = g.createImageData(rw, rh);
    const px = new Uint32Array(img.data.buffer);
    const pattern = this._pattern(width), period = this.period;
    const runs = m.runs, nruns = runs.length;
    // screen rows go down the box: one walk over the runs, back to a row's start only when
    // zoomed in (several screen rows show one image row)
    let k = 0, pos = 0, row = -1, rowK = 0, rowPos = 0;
    for (let cy = cy0; cy < cy1; cy++) {
      const want = Math.min(h - 1, Math.max(0, Math.floor((cy + 0.5 - oy) / s) - y0));
      if (want === row) { k = rowK; pos = rowPos; } else {
        const rowStart = want * w;
        while (k < nruns && pos + runs[k] <= rowStart) { pos += runs[k]; k++; }
        row = want; rowK = k; rowPos = pos;
      }
      const rowStart = row * w, rowEnd = rowStart + w;
      const off = (cy - cy0) * rw - cx0, phase = cy % period;
      while (k < nruns && pos < rowEnd) {
        const n = runs[k], end = pos + n;
        if ((k & 1) && n) {
          const a = (pos > rowStart ? pos : rowStart) - rowStart + x0;
          const b = (end < rowEnd ? end : rowEnd) - rowStart + x0;
          let ca = Math.ceil(a * s + ox - 0.5), cb = Math.ceil(b * s + ox - 0.5);
          if (ca < cx0) ca = cx0;
          if (cb > cx1) cb = cx1;
          for (let c = ca; c < cb; c++) px[off + c] = pattern[c + phase];
        }
        if (end > rowEnd) break;   // the run goes on into the next row
        pos = end;
        k++;
      }
    }
    g.putImageData(img, 0, 0);
    this.at = [cx0, cy0];
  }
}
