// The photo drawn zoomed out: a copy resized (in the background, by createImageBitmap) to a
// power-of-two level at or just above the device pixels it covers, so that a frame copies about a
// screen's worth of pixels instead of resampling a 12 MP photo; the photo itself is drawn until the
// copy for the current level is ready. Levels change by factors of two, so zooming rarely makes one.

const MAX_LEVEL = 0.5;   // copies only for views at most half the photo's size (device px)

/** The copy's scale for a view at `deviceScale` device px per image px, or 0 for none. */
export function photoLevel(deviceScale) {
  if (!(deviceScale > 0) || deviceScale > MAX_LEVEL) return 0;
  return Math.min(MAX_LEVEL, 2 ** Math.ceil(Math.log2(deviceScale)));
}

export class ScreenPhoto {
  /** onReady: called when a copy lands (the view redraws). */
  constructor(onReady) {
    this.onReady = onReady;
    this.copy = null;   // ImageBitmap of the current image at this.level, once made
    this.image = null;
    this.level = 0;
    this.gen = 0;
  }

  /** Draws image (width x height image px) with ctx's transform, which maps image px to device px
   * at deviceScale. */
  draw(ctx, image, width, height, deviceScale) {
    const level = typeof createImageBitmap === 'function' ? photoLevel(deviceScale) : 0;
    if (level && (this.image !== image || this.level !== level)) this._make(image, width, height, level);
    if (level && this.copy) ctx.drawImage(this.copy, 0, 0, width, height);
    else ctx.drawImage(image, 0, 0);
  }

  _make(image, width, height, level) {
    if (this.copy) this.copy.close();
    this.copy = null;
    this.image = image;
    this.level = level;
    const gen = ++this.gen;
    const size = { resizeWidth: Math.max(1, Math.round(width * level)),
                   resizeHeight: Math.max(1, Math.round(height * level)), resizeQuality: 'medium' };
    createImageBitmap(image, size).then((bmp) => {
      if (gen !== this.gen) { bmp.close(); return; }
      this.copy = bmp;
      this.onReady();
    }, () => {});   // no copy: the photo itself stays drawn
  }
}
