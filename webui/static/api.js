// Thin client for the JSON API described in docs/webui-api.md.

import { answerMask } from './mask/boxruns.js';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const enc = encodeURIComponent;
// Image names are relative paths with forward slashes; keep the slashes.
const imagePath = (name) => name.split('/').map(enc).join('/');

// Names this page as the writer of its saves: after a lost answer (a crash, a dropped
// connection) the server tells its own earlier save from another tab's. getRandomValues works
// on plain http LAN addresses too, where crypto.randomUUID does not.
export const CLIENT_ID = Array.from(crypto.getRandomValues(new Uint8Array(12)),
  (b) => b.toString(16).padStart(2, '0')).join('');

async function request(method, url, body) {
  // the header marks the request as this page's own: the server refuses state-changing
  // requests without it or a JSON body (a cross-site form cannot send either)
  const init = { method, headers: { 'X-Edgemask': '1' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'The server cannot be reached (' + e.message + ').', null);
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    const msg = (data && data.error) || `${method} ${url} failed with HTTP ${resp.status}.`;
    throw new ApiError(resp.status, msg, data);
  }
  return data;
}

export const api = {
  images: () => request('GET', '/api/images'),
  imageUrl: (name) => `/api/images/${imagePath(name)}/file`,
  thumbnailUrl: (name) => `/api/images/${imagePath(name)}/thumbnail`,
  setStatus: (name, status) => request('PUT', `/api/images/${imagePath(name)}/status`, { status }),
  updateLabel: (id, changes) => request('PUT', `/api/labels/${id}`, changes),
  labelUsage: (id) => request('GET', `/api/labels/${id}/usage`),
  deleteLabel: (id, objects, to) => request('DELETE', `/api/labels/${id}` +
    (objects ? `?objects=${enc(objects)}` + (to != null ? `&to=${enc(to)}` : '') : '')),
  importLabels: (text) => request('POST', '/api/labels/import', { text }),
  exportPlan: () => request('GET', '/api/export-plan'),
  labels: () => request('GET', '/api/labels'),
  addLabel: (name, color) => request('POST', '/api/labels', { name, color }),
  annotations: (name) => request('GET', `/api/images/${imagePath(name)}/annotations`),
  saveAnnotations: (name, version, objects) =>
    request('PUT', `/api/images/${imagePath(name)}/annotations`, { version, objects, client: CLIENT_ID }),
  saveChanges: (name, version, changes) =>
    request('PATCH', `/api/images/${imagePath(name)}/annotations`, { version, ...changes, client: CLIENT_ID }),
  model: () => request('GET', '/api/model'),
  modelChoices: () => request('GET', '/api/models/choices'),
  modelGet: (model) => request('POST', '/api/models/get', { model }),
  modelGetStatus: () => request('GET', '/api/models/get'),
  embedding: (name) => request('POST', `/api/images/${imagePath(name)}/embedding`),
  // masks come compact (runs as LEB128 bytes) and are decoded to the box-runs form here
  predict: (name, body) => request('POST', `/api/images/${imagePath(name)}/predict`, { mask_format: 'leb128', ...body })
    .then((r) => ({ ...r, mask: answerMask(r.mask) })),
  wand: (name, x, y, tolerance) => request('POST', `/api/images/${imagePath(name)}/wand`, { x, y, tolerance }),
  proposals: (name) => request('GET', `/api/images/${imagePath(name)}/proposals`),
  proposalsJob: (name) => request('GET', `/api/images/${imagePath(name)}/proposals/job`),
  computeProposals: (name, params) => request('POST', `/api/images/${imagePath(name)}/proposals`, params || {}),
  acceptProposal: (name, id, labelId, version) => request('POST', `/api/images/${imagePath(name)}/proposals/${id}/accept`,
    { label_id: labelId, version, client: CLIENT_ID }),
  acceptProposals: (name, body) => request('POST', `/api/images/${imagePath(name)}/proposals/accept`, { ...body, client: CLIENT_ID }),
  rejectProposal: (name, id) => request('POST', `/api/images/${imagePath(name)}/proposals/${id}/reject`, {}),
  polygonize: (mask, tolerance, maxPolygons) => request('POST', '/api/polygonize', { mask, tolerance, max_polygons: maxPolygons }),
};
