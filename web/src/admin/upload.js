// Uploading a video with tus (docs/jobs.md): resumable, in chunks below the server's
// uploads.max_chunk, then the ingest job's progress from GET /api/v1/jobs/{upload id}.
// When the server has no upload routes (OPTIONS /api/v1/uploads is not 204), the panel
// says so and the asset id is typed in instead.
import { clear, h } from '../common/dom.js';

const CHUNK = 16 * 1024 * 1024; // well below uploads.max_chunk (64 MB)

async function uploadsAvailable() {
  try {
    const r = await fetch('/api/v1/uploads', { method: 'OPTIONS' });
    return r.status === 204 && (r.headers.get('Tus-Version') || '').includes('1.0.0');
  } catch { return false; }
}

export function uploadPanel({ session, api, title, onAsset }) {
  const panel = h('div', { class: 'upload', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Checking whether this server takes uploads…'));
  uploadsAvailable().then((ok) => (ok ? ready(panel, { session, api, title, onAsset })
    : clear(panel, h('p', { class: 'notice', role: 'note' },
      'Uploads are not enabled on this server (no tus endpoint at /api/v1/uploads). Ingest the file with ',
      h('code', {}, 'kino ingest FILE --title TITLE'), ' and type the asset id it prints above.'))));
  return panel;
}

function ready(panel, { session, api, title, onAsset }) {
  const file = h('input', { type: 'file', accept: 'video/*,.mkv,.mov,.mp4,.webm', 'aria-label': 'Video file to upload' });
  const bar = h('progress', { max: '100', value: '0', 'aria-label': 'Upload progress' });
  const text = h('p', { class: 'small', role: 'status' });
  const start = h('button', { class: 'btn', type: 'button', disabled: true }, 'Upload');
  const pause = h('button', { class: 'btn', type: 'button', hidden: true }, 'Pause');
  const job = h('div', { class: 'job' });
  let upload = null;
  let paused = false;

  file.addEventListener('change', () => { start.disabled = !file.files.length; text.textContent = file.files[0] ? `${file.files[0].name}, ${(file.files[0].size / 1e6).toFixed(1)} MB` : ''; });
  start.addEventListener('click', async () => {
    const f = file.files[0];
    if (!f) return;
    const { Upload } = await import('tus-js-client');
    start.disabled = true;
    file.disabled = true;
    upload = new Upload(f, {
      endpoint: '/api/v1/uploads',
      chunkSize: CHUNK,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      headers: { Authorization: `Bearer ${session.token}` },
      metadata: { filename: f.name, title: title() || f.name.replace(/\.[^.]*$/, '') },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        const pct = total ? (sent / total) * 100 : 0;
        bar.value = pct;
        text.textContent = `Uploading ${f.name}: ${pct.toFixed(0)} % (${(sent / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB)`;
      },
      onError(err) {
        const status = err.originalResponse?.getStatus?.();
        text.textContent = `The upload stopped${status ? ` (HTTP ${status})` : ''}: ${err.message.split('\n')[0]}. Press Resume to continue where it stopped.`;
        pause.hidden = false;
        pause.textContent = 'Resume';
        paused = true;
      },
      onSuccess() {
        pause.hidden = true;
        bar.value = 100;
        text.textContent = `${f.name} is uploaded; Kino is transcoding it.`;
        const id = upload.url.split('/').pop();
        watchJob(api, id, job, onAsset);
      },
    });
    // Resume an upload of the same file that a closed tab or a lost network left half done.
    const previous = await upload.findPreviousUploads();
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      text.textContent = 'Resuming the earlier upload of this file…';
    }
    pause.hidden = false;
    upload.start();
  });
  pause.addEventListener('click', () => {
    if (!upload) return;
    if (paused) { upload.start(); pause.textContent = 'Pause'; } else { upload.abort(); pause.textContent = 'Resume'; text.textContent += ' (paused)'; }
    paused = !paused;
  });
  clear(panel, h('div', { class: 'upload-row' }, file, start, pause), bar, text, job);
}

async function watchJob(api, id, el, onAsset) {
  const bar = h('progress', { max: '100', value: '0', 'aria-label': 'Transcoding progress' });
  const text = h('p', { class: 'small', role: 'status' }, 'Waiting for a worker…');
  clear(el, h('h3', {}, 'Transcoding'), bar, text);
  for (;;) {
    let j;
    try { j = await api.get(`/api/v1/jobs/${id}`); } catch (e) { text.textContent = `Cannot read the job: ${e.message}`; await sleep(3000); continue; }
    const p = j.progress || {};
    bar.value = Math.round((p.fraction || 0) * 100);
    if (j.state === 'done') {
      bar.value = 100;
      text.textContent = `Done: asset ${j.asset_id}.`;
      onAsset(j.asset_id);
      return;
    }
    if (j.state === 'failed') {
      text.textContent = `The job failed: ${j.error || 'unknown reason'}`;
      text.setAttribute('role', 'alert');
      return;
    }
    text.textContent = j.state === 'queued'
      ? `Queued${j.attempts ? ` (attempt ${j.attempts + 1})` : ''}: waiting for a worker…`
      : `${p.phase || 'running'}: ${Math.round((p.fraction || 0) * 100)} %${p.fps ? `, ${p.fps.toFixed(0)} fps` : ''}${p.eta_seconds ? `, about ${Math.ceil(p.eta_seconds)} s left` : ''}`;
    await sleep(1000);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
