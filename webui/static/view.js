// The stage: view transform (zoom / pan) and drawing of image, objects,
// the selection, mask previews and the active tool's overlay.

import { state, labelColor, labelById, byZ, isShown, isLocked, luminance } from './state.js';
import { tinted, maskBBox } from './mask/canvas.js';
import { maskOutline } from './mask/outline.js';
import { ScreenPreview } from './mask/screenpreview.js';
import { ScreenPhoto } from './screenphoto.js';
import { objectBox } from './objects.js';

const DARK = 0.08;   // labels darker than this (black, pure blue) get a light outline

const MIN_SCALE = 0.02, MAX_SCALE = 64;

// The preview of a mask awaiting Enter / Esc: orange and near-black diagonal stripes.
export const PREVIEW_STRIPES = ['#ff8c1a', '#1a1a1a'];
const PREVIEW_ALPHA = 0.7;
let stripeTile = null;
function stripes() {
  if (stripeTile) return stripeTile;
  const n = 12;
  stripeTile = document.createElement('canvas');
  stripeTile.width = stripeTile.height = n;
  const g = stripeTile.getContext('2d');
  const img = g.createImageData(n, n);
  const rgb = PREVIEW_STRIPES.map((c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)));
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const [r, gg, b] = rgb[((x + y) % n) < n / 2 ? 0 : 1];
      img.data.set([r, gg, b, 255], (y * n + x) * 4);
    }
  }
  g.putImageData(img, 0, 0);
  return stripeTile;
}

export class View {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.scale = 1; this.ox = 0; this.oy = 0;   // screen = image * scale + o (CSS px, relative to canvas)
    this.overlay = null;                        // fn(ctx, view) drawn last, in screen space
    this.onZoom = null;
    this.reserveTop = null;                     // fn() -> CSS px at the top fit() leaves free (the first-use hint)
    this.atFit = false;   // the view is fit()'s (no zoom or pan since): a resize fits again
    this._queued = false;
    this._photo = new ScreenPhoto(() => this.render());   // the photo zoomed out, from a screen-sized copy
    this._size = null;   // the canvas's CSS size and client position at the last resize
    this._at = null;
    // the canvas fills its box: a window resize, a wrapping label bar or a side panel
    // collapsing changes the box, and the view follows
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement || canvas);
    this.resize();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const r = this.canvas.getBoundingClientRect();
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    const old = this._at;
    this._size = [r.width, r.height];
    this._at = [r.left, r.top];
    if (this.atFit) { this.fit(); return; }
    if (old) {   // zoomed or panned: the image stays where it was on the screen
      this.ox += old[0] - r.left;
      this.oy += old[1] - r.top;
    }
    this.render();
  }

  get cssWidth() { return this.canvas.getBoundingClientRect().width; }
  get cssHeight() { return this.canvas.getBoundingClientRect().height; }

  /** Image coordinates of a mouse event. */
  toImage(ev) {
    const r = this.canvas.getBoundingClientRect();
    return [(ev.clientX - r.left - this.ox) / this.scale, (ev.clientY - r.top - this.oy) / this.scale];
  }

  toScreen(x, y) { return [x * this.scale + this.ox, y * this.scale + this.oy]; }

  /** Offsets such that image pixel corners land on whole client pixels when scale is 1. */
  _snap() {
    const r = this.canvas.getBoundingClientRect();
    this.ox = Math.round(r.left + this.ox) - r.left;
    this.oy = Math.round(r.top + this.oy) - r.top;
  }

  fit() {
    if (!state.width) return;
    const top = this.reserveTop ? this.reserveTop() : 0;   // CSS px a line over the canvas takes
    const w = this.cssWidth, h = this.cssHeight - top;
    this.scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, Math.min((w - 20) / state.width, (h - 20) / state.height)));
    this.ox = (w - state.width * this.scale) / 2;
    this.oy = top + (h - state.height * this.scale) / 2;
    this.atFit = true;
    this.changed();
  }

  oneToOne() {
    this.atFit = false;
    this.scale = 1;
    this.ox = (this.cssWidth - state.width) / 2;
    this.oy = (this.cssHeight - state.height) / 2;
    this._snap();
    this.changed();
  }

  /** Zooms by factor keeping the image point under (sx, sy) (canvas CSS px) fixed. */
  zoomAt(factor, sx, sy) {
    const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    this.atFit = false;
    const ix = (sx - this.ox) / this.scale, iy = (sy - this.oy) / this.scale;
    this.scale = s;
    this.ox = sx - ix * s; this.oy = sy - iy * s;
    if (Math.abs(s - 1) < 1e-9) this._snap();
    this.changed();
  }

  panBy(dx, dy) { this.atFit = false; this.ox += dx; this.oy += dy; this.changed(); }

  changed() {
    if (this.onZoom) this.onZoom(this.scale);
    this.render();
  }

  /** Schedules one redraw on the next animation frame. */
  render() {
    if (this._queued) return;
    this._queued = true;
    requestAnimationFrame(() => { this._queued = false; this.draw(); });
  }

  draw() {
    const { ctx, canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    this.lastTags = {};   // label tags drawn this frame (read by the tests)
    if (!state.image) return;
    ctx.setTransform(dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.ox, dpr * this.oy);
    ctx.imageSmoothingEnabled = this.scale < 1;
    this._photo.draw(ctx, state.image, state.width, state.height, dpr * this.scale);

    // outline thickness in image pixels: about 1.5 screen pixels at any zoom
    // (a power of two, so zooming redoes the outlines of masks only now and then)
    const t = 2 ** Math.max(0, Math.round(Math.log2(1.5 / this.scale)));
    for (const o of byZ(state.objects)) {
      if (!isShown(o)) continue;
      const color = labelColor(o.label_id);
      // a label too dark to see on dark water gets a light outline as well
      const edge = luminance(color) < DARK ? '#e8e8e8' : color;
      if (!state.outlineOnly) {
        ctx.globalAlpha = state.opacity;
        if (o.kind === 'mask') {
          ctx.drawImage(tinted(o.canvas, color), o.canvas._x, o.canvas._y);
        } else {
          this._path(o.polygon);
          ctx.fillStyle = color;
          ctx.fill();
        }
        ctx.globalAlpha = 1;
      }
      if (o.kind === 'polygon') {
        this._path(o.polygon);
        ctx.strokeStyle = edge;
        ctx.lineWidth = (state.outlineOnly ? 2 : 1.5) / this.scale;
        ctx.stroke();
      } else if (state.outlineOnly || edge !== color) {
        const line = maskOutline(o.canvas, edge, t, state.width, state.height);
        if (line) ctx.drawImage(line.canvas, line.x, line.y);
      }
    }

    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (state.preview) this._drawPreview(state.preview, dpr);
    const sel = state.objects.find((o) => o.id === state.selectedId);
    if (sel && isShown(sel)) {
      this._drawSelection(sel);
      const box = objectBox(sel);
      if (box) this._tag(sel, ...this.toScreen(box[0], box[1]), 'above');
    }
    const hov = state.hover && state.objects.find((o) => o.id === state.hover.id);
    if (hov && isShown(hov) && hov !== sel) this._tag(hov, state.hover.sx + 14, state.hover.sy + 18, 'below');
    if (this.overlay) this.overlay(ctx, this);
  }

  /** The label name of an object in a small tag at screen point (x, y). */
  _tag(o, x, y, where) {
    const l = labelById(o.label_id);
    if (!l) return;
    const { ctx } = this;
    const text = l.name + (isLocked(o) ? ' (locked)' : '');
    ctx.font = '12px system-ui, sans-serif';
    const w = ctx.measureText(text).width + 16, h = 18;
    const bx = Math.max(2, Math.min(x, this.cssWidth - w - 2));
    const by = Math.max(2, Math.min(where === 'above' ? y - h - 3 : y, this.cssHeight - h - 2));
    ctx.fillStyle = 'rgba(0, 0, 0, 0.75)';
    ctx.fillRect(bx, by, w, h);
    ctx.fillStyle = l.color;
    ctx.fillRect(bx + 4, by + 5, 8, 8);
    ctx.strokeStyle = '#888'; ctx.lineWidth = 1;
    ctx.strokeRect(bx + 4.5, by + 5.5, 7, 7);
    ctx.fillStyle = '#fff';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, bx + 15, by + h / 2 + 0.5);
    this.lastTags = this.lastTags || {};
    this.lastTags[where] = text;
  }

  /** A mask awaiting Enter / Esc: diagonal stripes fixed on the screen, a style no label's
   * flat fill can be mistaken for (a flat cyan looked like SUIM's wrecks/ruins). */
  _drawPreview(preview, dpr) {
    if (preview.mask) {   // box-runs: drawn at the screen's resolution, the visible part only
      this._screen = this._screen || new ScreenPreview(PREVIEW_STRIPES);
      this._screen.draw(this.ctx, preview.mask, this, dpr, PREVIEW_ALPHA);
      return;
    }
    const mask = preview.canvas, { canvas } = this;
    const layer = this._layer || (this._layer = document.createElement('canvas'));
    if (layer.width !== canvas.width || layer.height !== canvas.height) {
      layer.width = canvas.width; layer.height = canvas.height;
    }
    const g = layer.getContext('2d');
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.globalCompositeOperation = 'copy';
    g.setTransform(dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.ox, dpr * this.oy);
    g.imageSmoothingEnabled = this.scale < 1;
    const step = mask._step || 1;   // a mask canvas sits at its box's corner; a preview may be coarser
    g.drawImage(mask, mask._x || 0, mask._y || 0, mask.width * step, mask.height * step);
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.globalCompositeOperation = 'source-in';
    g.fillStyle = g.createPattern(stripes(), 'repeat');
    g.fillRect(0, 0, layer.width, layer.height);
    g.globalCompositeOperation = 'source-over';
    const { ctx } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = PREVIEW_ALPHA;
    ctx.drawImage(layer, 0, 0);
    ctx.globalAlpha = 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  _path(poly) {
    const { ctx } = this;
    ctx.beginPath();
    poly.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
  }

  _drawSelection(o) {
    const { ctx } = this;
    if (o.kind === 'polygon') {
      ctx.beginPath();
      o.polygon.forEach(([x, y], i) => {
        const [sx, sy] = this.toScreen(x, y);
        i ? ctx.lineTo(sx, sy) : ctx.moveTo(sx, sy);
      });
      ctx.closePath();
      ctx.strokeStyle = '#fff'; ctx.lineWidth = 2; ctx.setLineDash([5, 4]);
      ctx.stroke(); ctx.setLineDash([]);
      for (const [x, y] of o.polygon) {
        const [sx, sy] = this.toScreen(x, y);
        ctx.fillStyle = '#fff'; ctx.strokeStyle = '#000'; ctx.lineWidth = 1;
        ctx.fillRect(sx - 3.5, sy - 3.5, 7, 7); ctx.strokeRect(sx - 3.5, sy - 3.5, 7, 7);
      }
    } else {
      const box = maskBBox(o.canvas);
      if (!box) return;
      const [x0, y0] = this.toScreen(box[0], box[1]);
      const [x1, y1] = this.toScreen(box[2], box[3]);
      ctx.strokeStyle = '#fff'; ctx.lineWidth = 1.5; ctx.setLineDash([5, 4]);
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0); ctx.setLineDash([]);
    }
  }
}
