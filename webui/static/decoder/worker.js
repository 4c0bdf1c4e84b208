// The model's decoder in a Web Worker, with onnxruntime-web (wasm, SIMD, threads where the page is
// cross-origin isolated). It does what edgemask.runtime.Predictor does around decoder.onnx: the
// prompt in the model's frame (families.py), the mask chosen from the decoder's four (select), and
// the logits resized to the image and thresholded (postprocess.py). Messages: see client.js.

import * as ort from '../vendor/onnxruntime-web/ort.wasm.min.mjs';

let config = null;
let sessions = {};   // part -> InferenceSession promise: "full" (takes a mask input), "image" + "click" (split)
let image = null;   // {key, size: [h, w], tensor}
const FP16 = fp16Table();

let queue = Promise.resolve();   // one message at a time: a session runs one decode at once
self.onmessage = (ev) => { queue = queue.then(() => handle(ev.data)); };

async function handle(msg) {
  try {
    const reply = await handlers[msg.type](msg);
    self.postMessage({ id: msg.id, ok: true, ...reply.value }, reply.transfer || []);
  } catch (e) {
    self.postMessage({ id: msg.id, ok: false, error: String((e && e.message) || e) });
  }
}

const handlers = {
  async init({ config: c, threads }) {
    config = c;
    ort.env.wasm.wasmPaths = new URL('../vendor/onnxruntime-web/', import.meta.url).href;
    ort.env.wasm.numThreads = self.crossOriginIsolated ? threads : 1;
    ort.env.wasm.simd = true;
    const first = config.urls.click ? ['image', 'click'] : ['full'];
    await Promise.all(first.map(load));
    if (config.urls.click) load('full').catch(() => {});   // for mask inputs, fetched meanwhile
    return { value: { threads: ort.env.wasm.numThreads, isolated: self.crossOriginIsolated, split: !!config.urls.click } };
  },

  async image({ key, url }) {
    if (image && image.key === key) return { value: { size: image.size, cached: true } };
    image = null;
    const resp = await fetch(url);
    if (!resp.ok) {
      let text = `the embedding could not be fetched (${resp.status})`;
      try { text = (await resp.json()).error || text; } catch (_) { /* not JSON */ }
      throw new Error(text);
    }
    const [h, w] = resp.headers.get('X-Edgemask-Image-Size').split(' ').map(Number);
    const packed = await new Response(resp.body.pipeThrough(new DecompressionStream('deflate'))).arrayBuffer();
    const values = unshuffleFp16(new Uint8Array(packed));
    if (values.length !== config.embedding_shape.reduce((a, b) => a * b, 1)) {
      throw new Error('the embedding does not have the size the model expects');
    }
    const tensor = new ort.Tensor('float32', values, config.embedding_shape);
    let perImage = null;   // the click-independent half of a split decoder, once per image
    if (config.urls.click) {
      const out = await (await load('image')).run({ image_embeddings: tensor });
      perImage = Object.fromEntries(config.split_tensors.map((n) => [n, out[n]]));
    }
    image = { key, size: [h, w], tensor, perImage };
    return { value: { size: image.size, cached: false } };
  },

  async decode({ key, points, box, maskInput, multimask, step = 1, previewOnly = false }) {
    if (!image || image.key !== key) throw new Error('the image embedding is not loaded');
    const t0 = performance.now();
    const { iou, low } = await run(points, box, maskInput);
    const t1 = performance.now();
    const best = select(iou, low, multimask);
    const size = config.low_res_size, [h, w] = image.size;
    const logits = low.subarray(best * size * size, (best + 1) * size * size);
    const out = { score: iou[best], decodeMs: t1 - t0 };
    const transfer = [];
    if (!previewOnly) {
      const lowRes = clamp(logits);
      out.lowRes = lowRes;
      transfer.push(lowRes.buffer);
    }
    if (step > 1 || previewOnly) {   // the sampled preview only (the hover)
      const xs = range(0, w, step), ys = range(0, h, step);
      const bits = threshold(resizeLogits(logits, xs, ys));
      out.preview = { step, w: xs.length, h: ys.length, bits };
      transfer.push(bits.buffer);
    } else {
      out.mask = boxRuns(threshold(resizeLogits(logits, range(0, w, 1), range(0, h, 1))), w, h);
      out.area = out.mask.area;
    }
    out.ms = performance.now() - t0;
    return { value: out, transfer };
  },
};

// -- the embedding on the wire: float16, low bytes then high bytes (browser_decoder.py) -------------
function fp16Table() {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
}

function unshuffleFp16(bytes) {
  const n = bytes.length >> 1, out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = FP16[bytes[i] | (bytes[n + i] << 8)];
  return out;
}

// -- the prompt (families.py: SamFamily.prompt / Sam2Family.prompt) --------------------------------
function resizeShape(h, w, longSide) {
  const scale = longSide * 1.0 / Math.max(h, w);
  return [Math.floor(h * scale + 0.5), Math.floor(w * scale + 0.5)];
}

function toFrame(x, y) {
  const [h, w] = image.size, f = config.prompt_frame;
  if (config.square) {   // scale_coords, in float32
    return [Math.fround(Math.fround(Math.fround(x) / w) * f), Math.fround(Math.fround(Math.fround(y) / h) * f)];
  }
  const [nh, nw] = resizeShape(h, w, f);   // apply_coords
  return [x * (nw / w), y * (nh / h)];
}

function prompt(points, box) {
  const coords = [], labels = [];
  const addBox = () => {
    if (!box) return;
    coords.push(toFrame(box[0], box[1]), toFrame(box[2], box[3]));
    labels.push(2, 3);
  };
  if (config.box_first) addBox();
  for (const [x, y, label] of points) { coords.push(toFrame(x, y)); labels.push(label); }
  if (!config.box_first) addBox();
  if (config.padding_always || !box) { coords.push([0, 0]); labels.push(-1); }
  return { coords: Float32Array.from(coords.flat()), labels: Float32Array.from(labels), n: labels.length };
}

function load(part) {
  if (!sessions[part]) {
    sessions[part] = (async () => {
      const resp = await fetch(config.urls[part]);
      if (!resp.ok) throw new Error(`the decoder could not be fetched (${resp.status})`);
      const bytes = new Uint8Array(await resp.arrayBuffer());
      return ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    })();
    sessions[part].catch(() => { delete sessions[part]; });
  }
  return sessions[part];
}

async function run(points, box, maskInput) {
  const { coords, labels, n } = prompt(points, box);
  const size = config.low_res_size;
  const prompts = {
    point_coords: new ort.Tensor('float32', coords, [1, n, 2]),
    point_labels: new ort.Tensor('float32', labels, [1, n]),
  };
  let out;
  if (!maskInput && image.perImage) {   // as Engine.decode: the split decoder without a mask input
    out = await (await load('click')).run({ ...image.perImage, ...prompts });
  } else {
    out = await (await load('full')).run({
      image_embeddings: image.tensor, ...prompts,
      mask_input: new ort.Tensor('float32', maskInput || new Float32Array(size * size), [1, 1, size, size]),
      has_mask_input: new ort.Tensor('float32', new Float32Array([maskInput ? 1 : 0]), [1]),
    });
  }
  return { iou: out.iou_predictions.data, low: out.low_res_masks.data };
}

// -- which mask (SamFamily.select / Sam2Family.select, then the best score) ------------------------
function argmaxOf(iou, indices) {
  let best = indices[0];
  for (const i of indices) if (iou[i] > iou[best]) best = i;
  return best;
}

function select(iou, low, multimask) {
  const multi = config.multimask_indices, single = config.single_mask_index;
  if (multimask) return argmaxOf(iou, multi);
  const fb = config.single_mask_fallback;
  if (!fb) return single;
  const size = config.low_res_size, logits = low.subarray(single * size * size, (single + 1) * size * size);
  const delta = Math.fround(fb.stability_delta);
  let inner = 0, outer = 0;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > delta) inner++;
    if (logits[i] > -delta) outer++;
  }
  const stability = outer > 0 ? Math.fround(inner / outer) : 1;
  return stability >= Math.fround(fb.stability_thresh) ? single : argmaxOf(iou, multi);
}

function clamp(logits) {
  const c = config.low_res_clamp, out = Float32Array.from(logits);
  if (c) for (let i = 0; i < out.length; i++) out[i] = Math.min(c, Math.max(-c, out[i]));
  return out;
}

// -- logits at image pixels (postprocess.py, OpenCV's INTER_LINEAR: half-pixel centres, edges clamped)
function range(start, end, step) {
  const out = [];
  for (let v = start; v < end; v += step) out.push(v);
  return out;
}

/** For destination indices `dst` of a resize from `srcLen` to `dstLen`: source index pairs and weights. */
function taps(dst, srcLen, dstLen) {
  const scale = srcLen / dstLen, i0 = new Int32Array(dst.length), i1 = new Int32Array(dst.length);
  const w1 = new Float32Array(dst.length);
  dst.forEach((d, k) => {
    let s = (d + 0.5) * scale - 0.5, a = Math.floor(s), f = s - a;
    if (a < 0) { a = 0; f = 0; }
    if (a >= srcLen - 1) { a = srcLen - 1; f = 0; }
    i0[k] = a; i1[k] = Math.min(a + 1, srcLen - 1); w1[k] = f;
  });
  return { i0, i1, w1 };
}

/** src (rows x cols, row-major) resized to dstRows x dstCols, evaluated at rows `ys`, columns `xs`. */
function resize(src, rows, cols, dstRows, dstCols, xs, ys) {
  const tx = taps(xs, cols, dstCols), ty = taps(ys, rows, dstRows);
  const nx = xs.length, horiz = new Float32Array(rows * nx);
  const needed = new Uint8Array(rows);
  for (let k = 0; k < ys.length; k++) { needed[ty.i0[k]] = 1; needed[ty.i1[k]] = 1; }
  for (let r = 0; r < rows; r++) {
    if (!needed[r]) continue;
    const base = r * cols, o = r * nx;
    for (let k = 0; k < nx; k++) {
      const f = tx.w1[k];
      horiz[o + k] = src[base + tx.i0[k]] * (1 - f) + src[base + tx.i1[k]] * f;
    }
  }
  const out = new Float32Array(ys.length * nx);
  for (let k = 0; k < ys.length; k++) {
    const f = ty.w1[k], a = ty.i0[k] * nx, b = ty.i1[k] * nx, o = k * nx;
    for (let j = 0; j < nx; j++) out[o + j] = horiz[a + j] * (1 - f) + horiz[b + j] * f;
  }
  return out;
}

/** One low-res logit map -> logits at image pixels (xs, ys): {values, w: xs.length, h: ys.length}. */
function resizeLogits(logits, xs, ys) {
  const size = config.low_res_size, [h, w] = image.size;
  let values;
  if (config.square) {   // SquareUpscaler: straight to the image size
    values = h === size && w === size ? pick(logits, size, xs, ys) : resize(logits, size, size, h, w, xs, ys);
  } else {   // MaskUpscaler: the valid block upsampled to the frame, cropped, resized to the image
    const [inH, inW] = resizeShape(h, w, config.prompt_frame), factor = config.prompt_frame / size;
    const bh = Math.min(size, Math.ceil(inH / factor) + 1), bw = Math.min(size, Math.ceil(inW / factor) + 1);
    const block = new Float32Array(bh * bw);
    for (let r = 0; r < bh; r++) block.set(logits.subarray(r * size, r * size + bw), r * bw);
    const upCols = range(0, inW, 1), upRows = range(0, inH, 1);
    const crop = resize(block, bh, bw, bh * factor, bw * factor, upCols, upRows);
    values = inH === h && inW === w ? pick(crop, inW, xs, ys) : resize(crop, inH, inW, h, w, xs, ys);
  }
  return { values, w: xs.length, h: ys.length };
}

function pick(src, cols, xs, ys) {
  const out = new Float32Array(xs.length * ys.length);
  ys.forEach((y, k) => xs.forEach((x, j) => { out[k * xs.length + j] = src[y * cols + x]; }));
  return out;
}

function threshold({ values }) {
  const t = config.mask_threshold, out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] > t ? 1 : 0;
  return out;
}

/** A w x h 0/1 mask -> the API's {box: [x0, y0, x1, y1], runs: [outside, inside, ...]} (tight box). */
function boxRuns(bits, w, h) {
  let x0 = w, y0 = h, x1 = -1, y1 = -1, area = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let first = -1, last = -1;
    for (let x = 0; x < w; x++) if (bits[row + x]) { if (first < 0) first = x; last = x; area++; }
    if (first >= 0) { x0 = Math.min(x0, first); x1 = Math.max(x1, last); if (y0 > y) y0 = y; y1 = y; }
  }
  if (x1 < 0) return { box: [0, 0, 0, 0], runs: [], area: 0 };
  const runs = [];
  let inside = 0, n = 0;
  for (let y = y0; y <= y1; y++) {
    const row = y * w;
    for (let x = x0; x <= x1; x++) {
      if (bits[row + x] !== inside) { runs.push(n); n = 0; inside ^= 1; }
      n++;
    }
  }
  runs.push(n);
  return { box: [x0, y0, x1 + 1, y1 + 1], runs, area };
}
