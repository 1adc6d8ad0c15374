// The admin console's Recommendations page (/admin/recommendations): the model the home rows
// are scored with (GET /api/v1/admin/recsys) and retraining it now
// (POST /api/v1/admin/recsys/retrain: 202 while it runs, 409 when one runs already). While a
// training runs the page asks again every 2 s; a server without these routes (404) gets a
// clear "not available" state instead of an error.
import { clear, empty, errorBox, h, loading, toast } from '../common/dom.js';
import { dateTime } from '../common/format.js';

const POLL_MS = 2000;

const num = (x, d = 0) => (x == null ? '—' : Number(x).toLocaleString(undefined, { maximumFractionDigits: d }));

function duration(s) {
  if (s == null) return '—';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${num(s, 1)} s`;
  if (s < 5400) return `${num(s / 60, 1)} min`;
  return `${num(s / 3600, 1)} h`;
}

function fact(label, value) {
  return h('div', {}, h('dt', {}, label), h('dd', {}, value));
}

const STATE_LABEL = { idle: 'Idle', running: 'Training…', failed: 'Failed' };

// ctx: { shell, api, live, onLeave }
export async function recsysPage(ctx) {
  const { shell, api, live } = ctx;
  const modelBox = h('div', {}, loading('Loading the model'));
  const stateBox = h('div', { 'aria-live': 'polite' });
  const retrain = h('button', { class: 'btn primary', type: 'button', disabled: true }, 'Retrain now');
  const page = h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Recommendations'), retrain),
    h('p', { class: 'muted' }, 'Home rows are ranked by an implicit-feedback model (ALS) trained on what viewers watch. It retrains on a schedule; retrain now after a large import or a catalog change.'),
    h('section', { class: 'panel', 'aria-labelledby': 'training-h' }, h('h2', { id: 'training-h' }, 'Training'), stateBox),
    h('section', { class: 'panel', 'aria-labelledby': 'model-h' }, h('h2', { id: 'model-h' }, 'Current model'), modelBox));
  shell(page);

  let timer = null;
  let wasRunning = false;
  ctx.onLeave(() => clearTimeout(timer));

  function showModel(m) {
    if (!m) {
      clear(modelBox, empty('No model yet', 'Home rows fall back to what is new and popular until the first training finishes. Retrain now to train one.'));
      return;
    }
    clear(modelBox, h('dl', { class: 'facts-grid' },
      fact('Trained', dateTime(m.created_at)),
      fact('Viewers', num(m.users)),
      fact('Titles', num(m.items)),
      fact('Interactions', num(m.interactions)),
      fact('Factors', num(m.factors)),
      fact('Iterations', num(m.iterations)),
      fact('Regularization (λ)', num(m.regularization, 4)),
      fact('Confidence (α)', num(m.alpha, 2)),
      fact('Training time', duration(m.train_seconds)),
      fact('Data from', m.data_from ? dateTime(m.data_from) : '—'),
      fact('Data to', m.data_to ? dateTime(m.data_to) : '—'),
      fact('Source', m.source || '—')));
  }

  let shown = null; // the training box is live: rewrite it only when it changes
  function showTraining(t = {}) {
    const key = JSON.stringify(t);
    if (key === shown) return;
    shown = key;
    const state = t.state || 'idle';
    const running = state === 'running';
    retrain.disabled = running;
    retrain.setAttribute('aria-busy', running ? 'true' : 'false');
    clear(stateBox,
      h('p', { class: 'state-line' }, h('span', { class: `badge ${state === 'idle' ? 'ok' : state}`, dataset: { state } }, STATE_LABEL[state] || state),
        running ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : null,
        running && t.started_at ? h('span', { class: 'muted' }, `since ${dateTime(t.started_at)}`) : null),
      state === 'failed' ? h('p', { class: 'form-error', role: 'alert' }, `The last training failed${t.error ? `: ${t.error}` : '.'}`) : null,
      h('dl', { class: 'facts-grid' },
        fact('Last started', t.started_at ? dateTime(t.started_at) : '—'),
        fact('Last finished', t.finished_at ? dateTime(t.finished_at) : '—'),
        fact('Next scheduled', t.next_at ? dateTime(t.next_at) : 'not scheduled'),
        fact('Every', t.interval_s ? duration(t.interval_s) : '—')));
  }

  function show(r) {
    showModel(r.model);
    showTraining(r.training);
    const running = r.training?.state === 'running';
    if (wasRunning && !running) {
      if (r.training?.state === 'failed') toast(`Training failed${r.training.error ? `: ${r.training.error}` : ''}`, 'error');
      else toast('Retrained: the home rows use the new model');
    }
    wasRunning = running;
    clearTimeout(timer);
    if (running) timer = setTimeout(poll, POLL_MS);
  }

  function unavailable() {
    retrain.disabled = true;
    shown = null;
    clear(stateBox);
    clear(modelBox, h('div', { class: 'state empty', role: 'status' },
      h('p', { class: 'empty-title' }, 'Recommendations are not available on this server'),
      h('p', {}, 'It has no recommender routes (/api/v1/admin/recsys). Home rows are built from the catalog until they are deployed.')));
  }

  async function poll() {
    let r;
    try {
      r = await api.get('/api/v1/admin/recsys');
    } catch (e) {
      if (!live()) return;
      if (e.status === 404) return unavailable();
      // A failed poll while training is not the end: keep asking, say so.
      if (wasRunning) {
        shown = null;
        clear(stateBox, h('p', { class: 'notice', role: 'status' }, `Lost touch with the server (${e.message}); trying again…`));
        clearTimeout(timer);
        timer = setTimeout(poll, POLL_MS);
        return;
      }
      clear(modelBox, errorBox(e, poll));
      return;
    }
    if (live()) show(r);
  }

  retrain.addEventListener('click', async () => {
    retrain.disabled = true;
    try {
      const r = await api.post('/api/v1/admin/recsys/retrain');
      if (!live()) return;
      toast('Training started');
      show(r);
    } catch (e) {
      if (!live()) return;
      if (e.status === 409) { toast('A training is running already: following it'); wasRunning = true; poll(); return; }
      if (e.status === 404) return unavailable();
      toast(e.message, 'error');
      retrain.disabled = false;
    }
  });

  await poll();
}
