// The page's side of the browser decoder (worker.js): opened once per model, it loads an image's
// packed embedding once and answers decodes as the server's predict does ({mask, score, area, ms}
// plus the low-res logits a refine sends back). openBrowserDecoder() gives null and a reason where
// the page cannot run it (no wasm, no DecompressionStream, little memory, a model whose decoder
// stays on the server), and the AI wand then asks the server.

const imagePath = (name) => name.split('/').map(encodeURIComponent).join('/');

/** Why this browser cannot run a decoder, or null. */
export function browserUnsupported() {
  if (typeof WebAssembly !== 'object' || typeof Worker !== 'function') return 'this browser has no WebAssembly workers';
  if (typeof DecompressionStream !== 'function') return 'this browser cannot inflate the embedding';
  if (navigator.deviceMemory && navigator.deviceMemory < 2) return 'this device has too little memory';
  return null;
}

/** -> {decoder, reason}: a ready BrowserDecoder, or null and one sentence saying why not. */
export async function openBrowserDecoder({ threads } = {}) {
  const unsupported = browserUnsupported();
  if (unsupported) return { decoder: null, reason: `the decoder runs on the server: ${unsupported}` };
  let info;
  try {
    info = await (await fetch('/api/decoder')).json();
  } catch (e) {
    return { decoder: null, reason: `the decoder runs on the server (${e.message})` };
  }
  if (!info.available) return { decoder: null, reason: info.reason };
  const decoder = new BrowserDecoder(info);
  try {
    const n = threads || Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
    decoder.runtime = await decoder.call('init', { config: info, threads: n });
  } catch (e) {
    decoder.close();
    return { decoder: null, reason: `the decoder runs on the server: the browser could not start it (${e.message})` };
  }
  return { decoder, reason: null };
}

export class BrowserDecoder {
  constructor(info) {
    this.info = info;
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.pending = new Map();
    this.nextId = 1;
    this.failed = null;
    this.worker.onmessage = (ev) => {
      const p = this.pending.get(ev.data.id);
      if (!p) return;
      this.pending.delete(ev.data.id);
      if (ev.data.ok) p.resolve(ev.data); else p.reject(new Error(ev.data.error));
    };
    this.worker.onerror = (ev) => {
      this.failed = ev.message || 'the decoder worker failed';
      for (const p of this.pending.values()) p.reject(new Error(this.failed));
      this.pending.clear();
    };
    this.imageKey = null;
    this.imageReady = null;
  }

  call(type, msg = {}, transfer = []) {
    if (this.failed) return Promise.reject(new Error(this.failed));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, type, id }, transfer);
    });
  }

  /** Loads this image's embedding (once; the HTTP cache keeps it across visits). */
  setImage(name) {
    if (this.imageKey !== name || !this.imageReady) {
      this.imageKey = name;
      this.imageReady = this.call('image', { key: name, url: `/api/images/${imagePath(name)}/embedding.bin` });
      this.imageReady.catch(() => { if (this.imageKey === name) this.imageReady = null; });
    }
    return this.imageReady;
  }

  /** points [[x, y, 1|0]], box [x0, y0, x1, y1] or null, maskInput a Float32Array of low-res logits or
   * null; as the server's Assistant: one include point alone gives the best of the multimask outputs.
   * step > 1: only a preview sampled at every step-th pixel ({preview: {step, w, h, bits}}). */
  async decode(name, { points = [], box = null, maskInput = null, step = 1, previewOnly = false }) {
    await this.setImage(name);
    const multimask = points.length === 1 && !box && !maskInput;
    const mask = maskInput ? Float32Array.from(maskInput) : null;
    return this.call('decode', { key: name, points, box, maskInput: mask, multimask, step, previewOnly },
      mask ? [mask.buffer] : []);
  }

  close() {
    this.worker.terminate();
    this.failed = this.failed || 'closed';
  }
}
