// "Get a model": with no model loaded, the AI wand offers a short chooser; the server downloads the
// official checkpoint and converts it (no PyTorch), the page shows the progress and, when it ends,
// the AI wand works without a restart. The classic tools keep working meanwhile.

import { api } from './api.js';

const POLL_MS = 400;
let dialog = null;
let polling = false;

const mb = (bytes) => `${Math.round(bytes / 1e6)} MB`;

function build() {
  dialog = document.createElement('div');
  dialog.id = 'model-get';
  dialog.className = 'overlay';
  dialog.hidden = true;
  dialog.innerHTML = `
    <div class="panel">
      <h2>Get a model for the AI wand</h2>
      <p>edgemask downloads the official checkpoint and converts it on this computer; no PyTorch needed.
        The classic tools keep working meanwhile.</p>
      <div id="model-get-choices" role="radiogroup"></div>
      <div id="model-get-run" hidden>
        <progress id="model-get-progress" max="1" value="0"></progress>
        <div id="model-get-text"></div>
      </div>
      <p id="model-get-error" class="error" hidden></p>
      <div class="buttons">
        <button id="model-get-start">Get</button>
        <button id="model-get-close">Close</button>
      </div>
    </div>`;
  document.body.append(dialog);
  dialog.querySelector('#model-get-close').addEventListener('click', () => { dialog.hidden = true; });
}

function renderChoices(choices) {
  const box = dialog.querySelector('#model-get-choices');
  box.replaceChildren(...choices.map((c, i) => {
    const label = document.createElement('label');
    label.className = 'model-choice';
    const input = Object.assign(document.createElement('input'), { type: 'radio', name: 'model-get', value: c.model, checked: i === 0 });
    const size = c.download_bytes ? `about ${mb(c.download_bytes)}` : '';
    label.append(input, ` ${c.model} `, Object.assign(document.createElement('small'), { textContent: `${size} - ${c.suits}` }));
    return label;
  }));
}

function showJob(job) {
  const run = dialog.querySelector('#model-get-run');
  const err = dialog.querySelector('#model-get-error');
  const bar = dialog.querySelector('#model-get-progress');
  const text = dialog.querySelector('#model-get-text');
  const start = dialog.querySelector('#model-get-start');
  start.disabled = job.state === 'running';
  run.hidden = job.state === 'idle';
  err.hidden = job.state !== 'error';
  if (job.state === 'error') err.textContent = job.error + (job.hint ? ' ' + job.hint : '');
  // the download is most of the wait; conversion steps fill the last fifth
  let fraction = 0;
  if (job.phase === 'download') fraction = job.total ? 0.8 * job.done / job.total : 0;
  else if (job.phase === 'convert') fraction = 0.8 + 0.2 * (job.total ? job.done / job.total : 0);
  else if (job.phase === 'load') fraction = 1;
  if (job.state === 'done') fraction = 1;
  bar.value = fraction;
  const bytes = job.phase === 'download' && job.total ? `: ${mb(job.done)} of ${mb(job.total)}` : '';
  text.textContent = job.state === 'running' ? `${job.model} (${job.precision}): ${job.message}${bytes}`
    : job.state === 'done' ? job.message : '';
}

async function poll(app) {
  if (polling) return;
  polling = true;
  try {
    for (;;) {
      const job = await api.modelGetStatus();
      showJob(job);
      if (job.state === 'done') {
        await app.reloadModel();
        dialog.hidden = true;
        app.flash(`${job.message}: the AI wand works now.`);
        return;
      }
      if (job.state !== 'running') return;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } catch (e) {
    app.flash(e.message);
  } finally {
    polling = false;
  }
}

/** Opens the chooser (or the running job's progress). */
export async function openModelGet(app) {
  if (!dialog) {
    build();
    dialog.querySelector('#model-get-start').addEventListener('click', async () => {
      const picked = dialog.querySelector('input[name="model-get"]:checked');
      if (!picked) return;
      try {
        showJob(await api.modelGet(picked.value));
      } catch (e) {
        showJob({ state: 'error', error: e.message });
        return;
      }
      poll(app);
    });
  }
  dialog.hidden = false;
  try {
    const r = await api.modelChoices();
    renderChoices(r.choices);
    showJob(r.job);
    if (r.job.state === 'running') poll(app);
  } catch (e) {
    showJob({ state: 'error', error: e.message });
  }
}
