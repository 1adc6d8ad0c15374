// The analyst dashboard at /analytics: engagement (plays, viewers, watch time, completion,
// top titles, retention curves), quality of experience (startup percentiles, rebuffering,
// failures, exits before start, bitrate; by device and by day) and concurrent viewers,
// from the telemetry reports API (GET /api/v1/reports/*), filtered by dates, title and
// device, each exportable as CSV; plus the streams live now (kino_active_streams of
// GET /metrics). Charts are uPlot. A server without the reports API gets a notice.
import 'uplot/dist/uPlot.min.css';
import '../common/styles.css';
import uPlot from 'uplot';
import { Session, createApi } from '../common/api.js';
import { clear, errorBox, field, focusMain, h, loading } from '../common/dom.js';

const session = new Session('analytics');
const api = createApi(session);
const root = document.getElementById('app');
session.onChange(render);

function render() {
  if (!session.signedIn) return signIn();
  if (!['analyst', 'admin'].includes(session.user?.role)) {
    return clear(root, h('main', { id: 'main', class: 'main page narrow', role: 'alert' }, h('h1', {}, 'Analysts only'),
      h('p', {}, `${session.user?.email} is a viewer account.`), h('button', { class: 'btn', type: 'button', onclick: () => api.signOut() }, 'Sign out')));
  }
  dashboard();
}

function signIn() {
  const email = h('input', { type: 'email', required: true, autocomplete: 'username' });
  const password = h('input', { type: 'password', required: true, autocomplete: 'current-password' });
  const status = h('p', { class: 'form-error', role: 'alert', hidden: true });
  clear(root, h('main', { id: 'main', class: 'main main-auth' }, h('div', { class: 'auth' },
    h('p', { class: 'brand big' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '▶'), 'Kino ', h('span', { class: 'badge' }, 'Analytics')),
    h('form', {
      class: 'auth-form',
      onsubmit: async (e) => {
        e.preventDefault();
        try { await api.signIn(email.value.trim(), password.value); } catch (err) { status.textContent = err.message; status.hidden = false; }
      },
    }, h('h1', {}, 'Sign in to analytics'), field('Email', email), field('Password', password), status,
    h('button', { class: 'btn primary wide', type: 'submit' }, 'Sign in')))));
  email.focus();
}

async function activeStreams() {
  const r = await fetch('/metrics');
  if (!r.ok) throw new Error(`/metrics answered ${r.status}`);
  const m = /^kino_active_streams(?:\{[^}]*\})?\s+([0-9.eE+-]+)/m.exec(await r.text());
  return m ? Number(m[1]) : null;
}

// ---- the reports (docs/telemetry.md) ----
const COLORS = ['#e50914', '#4ea1ff', '#2fbf71', '#f0b429', '#b57bff', '#ff7ab6'];

function query(filters, extra = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filters, ...extra })) if (v) q.set(k, v);
  return q.toString();
}

async function report(name, filters, extra) {
  return api.get(`/api/v1/reports/${name}?${query(filters, extra)}`);
}

async function downloadCsv(name, filters, extra) {
  const r = await fetch(`/api/v1/reports/${name}?${query(filters, { ...extra, format: 'csv' })}`, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
  const a = h('a', { href: URL.createObjectURL(await r.blob()), download: `kino-${name}-${new Date().toISOString().slice(0, 10)}.csv` });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

const pct = (x) => `${(x * 100).toFixed(1)} %`;
const num = (x, d = 0) => (x ?? 0).toLocaleString(undefined, { maximumFractionDigits: d });

function kpi(label, value, hint) {
  return h('div', { class: 'kpi-tile', dataset: { kpi: label } }, h('p', { class: 'kpi-label' }, label), h('p', { class: 'kpi-value' }, value), hint ? h('p', { class: 'muted small' }, hint) : null);
}

// ---- time axes ----
// uPlot 1.6.32 auto-ranges a time scale that holds a single x value by widening it to
// [x, x + round(86400 / ms)], in the data's units. With x in seconds (ms = 1e-3, its default)
// that is 86,400,000 s, about 2.7 years: one day of data stretched its chart over years. A
// scale's own `range` function does not see the single point either: uPlot calls it with the
// widened [min, max], so a function that derived its window from `max` (the live chart's
// [max - 600, max + 5]) landed 2.7 years ahead, hence labels like "8/18/29". The x ranges
// below are therefore computed from the data (u.data[0]), never from the min and max uPlot
// passes in, and each time axis says how to write its ticks.
const DAY = 86400;
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const secondsFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' });

// The x window of the data: [first - before, last + after], or `single` seconds either side of
// a lone point.
function xRange(before, after, single = before) {
  return (u) => {
    const xs = u.data[0];
    if (!xs?.length) return [null, null];
    const first = xs[0], last = xs[xs.length - 1];
    return first === last ? [first - single, last + single] : [first - before, last + after];
  };
}

// Day buckets (UTC days, as the reports group them): one tick per day at most, "Nov 22".
const dayIncrs = [1, 2, 7, 14, 30, 61, 91, 182, 365].map((d) => d * DAY);
function dayAxis(extra = {}) {
  return { stroke: '#9aa3b2', grid: { stroke: '#222838' }, incrs: dayIncrs, values: (u, splits) => splits.map((s) => dayFmt.format(s * 1000)), ...extra };
}

// Minutes to days, in local time: "2:05 PM", with the date under the first tick and where the
// day changes; only dates when ticks are a day or more apart. Ticks at least 90 px apart, so
// that the labels never run into each other.
function clockAxis(withSeconds = false) {
  return {
    stroke: '#9aa3b2', grid: { stroke: '#222838' }, size: 52, space: 90,
    values: (u, splits, axisIdx, space, incr) => {
      let lastDay = null;
      return splits.map((s) => {
        const d = new Date(s * 1000);
        if (incr >= DAY) return dateFmt.format(d);
        const day = d.toDateString(), t = (withSeconds && incr < 60 ? secondsFmt : timeFmt).format(d);
        const label = day !== lastDay ? `${t}\n${dateFmt.format(d)}` : t;
        lastDay = day;
        return label;
      });
    },
  };
}
const yAxis = (extra = {}) => ({ stroke: '#9aa3b2', grid: { stroke: '#222838' }, ...extra });

function chart(el, opts, data) {
  el.replaceChildren();
  const width = Math.max(300, el.clientWidth || 600);
  return new uPlot({
    width, height: 240, legend: { show: opts.series.length > 2 },
    axes: [{ stroke: '#9aa3b2', grid: { stroke: '#222838' } }, { stroke: '#9aa3b2', grid: { stroke: '#222838' } }],
    ...opts,
  }, data, el);
}

async function dashboard() {
  let titles = {};
  try { for (const t of await api.all('/api/v1/titles')) titles[t.id] = t.title; } catch { titles = {}; }
  const name = (id) => titles[id] || id;
  const today = new Date();
  const from = h('input', { type: 'date', value: new Date(today - 29 * 864e5).toISOString().slice(0, 10) });
  const to = h('input', { type: 'date', value: new Date(+today + 864e5).toISOString().slice(0, 10) });
  const title = h('select', {}, h('option', { value: '' }, 'All titles'), Object.entries(titles).map(([id, t]) => h('option', { value: id }, t)));
  const device = h('input', { placeholder: 'web-desktop-chrome', list: 'devices' });
  const filters = () => ({ from: from.value, to: to.value, title: title.value, device: device.value.trim() });
  const body = h('div', {}, loading('Loading the reports'));
  const liveNow = h('p', { class: 'kpi', 'aria-live': 'polite' }, '—');
  const liveChart = h('div', { class: 'chart', role: 'img', 'aria-label': 'Concurrent streams, sampled every 5 seconds' });
  const main = h('main', { id: 'main', class: 'main page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Analytics'),
      h('span', { class: 'muted small' }, session.user?.email),
      h('button', { class: 'btn small', type: 'button', onclick: () => api.signOut() }, 'Sign out')),
    h('form', { class: 'filters panel', 'aria-label': 'Filters', onsubmit: (e) => { e.preventDefault(); load(); } },
      field('From', from), field('To (exclusive)', to), field('Title', title), field('Device', device),
      h('button', { class: 'btn primary', type: 'submit' }, 'Apply')),
    h('section', { class: 'panel', 'aria-labelledby': 'live-h' }, h('h2', { id: 'live-h' }, 'Concurrent streams, live'), liveNow, liveChart),
    body);
  clear(root, main);
  focusMain(main);
  live(main, liveNow, liveChart);

  async function load() {
    clear(body, loading('Loading the reports'));
    const f = filters();
    let eng, qoe, qday, conc;
    try {
      [eng, qoe, qday, conc] = await Promise.all([
        report('engagement', f, { top: 10 }), report('qoe', f, { group: 'device' }),
        report('qoe', f, { group: 'day' }), report('concurrency', f)]);
    } catch (e) {
      clear(body, e.status === 404
        ? h('p', { class: 'notice' }, 'This server has no reports API (/api/v1/reports/*, the telemetry module): engagement and QoE appear here once it is deployed.')
        : errorBox(e, load));
      return;
    }
    const csv = (n, extra) => h('button', { class: 'btn small', type: 'button', onclick: () => downloadCsv(n, filters(), extra).catch((e) => alert(e.message)) }, 'Export CSV');
    const o = qoe.overall || {};
    const engChart = h('div', { class: 'chart', role: 'img', 'aria-label': 'Retention curves of the top titles' });
    const qoeChart = h('div', { class: 'chart', role: 'img', 'aria-label': 'Startup time and rebuffering by day' });
    const concChart = h('div', { class: 'chart', role: 'img', 'aria-label': 'Concurrent viewers per minute' });
    clear(body,
      h('section', { class: 'panel', 'aria-labelledby': 'eng-h' },
        h('div', { class: 'page-head' }, h('h2', { id: 'eng-h' }, 'Engagement'), csv('engagement', { top: 10 })),
        h('div', { class: 'kpis' },
          kpi('Plays', num(eng.plays)), kpi('Unique viewers', num(eng.unique_viewers)),
          kpi('Watch time', eng.watch_hours >= 1 ? `${num(eng.watch_hours, 1)} h` : `${num(eng.watch_hours * 60, 1)} min`), kpi('Average watch time', `${num(eng.avg_watch_time_s, 1)} s`),
          kpi('Completion rate', pct(eng.completion_rate || 0))),
        h('h3', {}, 'Top titles'),
        eng.top_titles?.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
          h('thead', {}, h('tr', {}, ['Title', 'Plays', 'Viewers', 'Watch hours', 'Avg watch (s)', 'Completion'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, eng.top_titles.map((t) => h('tr', {}, h('th', { scope: 'row' }, name(t.title_id)), h('td', {}, num(t.plays)), h('td', {}, num(t.unique_viewers)),
            h('td', {}, num(t.watch_hours, 3)), h('td', {}, num(t.avg_watch_time_s, 1)), h('td', {}, pct(t.completion_rate))))))) : h('p', { class: 'muted' }, 'No plays in this range.'),
        h('h3', {}, 'Retention'), engChart),
      h('section', { class: 'panel', 'aria-labelledby': 'qoe-h' },
        h('div', { class: 'page-head' }, h('h2', { id: 'qoe-h' }, 'Quality of experience'), csv('qoe', { group: 'day' })),
        h('div', { class: 'kpis' },
          kpi('Startup time p50', o.startup_ms ? `${num(o.startup_ms.p50)} ms` : '—', o.startup_ms ? `p90 ${num(o.startup_ms.p90)} · p95 ${num(o.startup_ms.p95)} ms` : null),
          kpi('Rebuffer ratio', pct(o.rebuffer_ratio || 0)), kpi('Playback failures', `${num(o.failure_pct, 2)} %`),
          kpi('Exits before start', `${num(o.ebvs_pct, 2)} %`), kpi('Average bitrate', `${num((o.avg_bitrate || 0) / 1000)} kbps`)),
        qoe.groups?.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
          h('caption', { class: 'sr-only' }, 'QoE by device'),
          h('thead', {}, h('tr', {}, ['Device', 'Plays', 'Startup p50', 'Rebuffer', 'Failures', 'Avg bitrate'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, qoe.groups.map((g) => h('tr', {}, h('th', { scope: 'row' }, g.key), h('td', {}, num(g.plays)),
            h('td', {}, g.startup_ms ? `${num(g.startup_ms.p50)} ms` : '—'), h('td', {}, pct(g.rebuffer_ratio)), h('td', {}, `${num(g.failure_pct, 2)} %`),
            h('td', {}, `${num(g.avg_bitrate / 1000)} kbps`)))))) : null,
        h('h3', {}, 'By day'), qoeChart),
      h('section', { class: 'panel', 'aria-labelledby': 'conc-h' },
        h('div', { class: 'page-head' }, h('h2', { id: 'conc-h' }, 'Concurrent viewers'), csv('concurrency')),
        h('p', { class: 'muted' }, conc.peak ? `Peak: ${conc.peak.viewers} at ${new Date(conc.peak.minute).toLocaleString()}` : 'No viewers in this range.'),
        concChart));

    const curves = (eng.retention || []).slice(0, COLORS.length);
    if (curves.length) {
      chart(engChart, {
        scales: { x: { time: false }, y: { range: [0, 1] } },
        series: [{ label: '% of the title' }, ...curves.map((c, i) => ({ label: name(c.title_id), stroke: COLORS[i], width: 2, value: (u, v) => (v == null ? '' : pct(v)) }))],
      }, [curves[0].curve.map((_, k) => k * (curves[0].step_pct || 5)), ...curves.map((c) => c.curve)]);
    }
    const days = (qday.groups || []).filter((g) => /^\d{4}-\d{2}-\d{2}$/.test(g.key)).sort((a, b) => a.key.localeCompare(b.key));
    if (days.length) {
      // Half a day either side, so that one day is a point in the middle of its own day.
      chart(qoeChart, {
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        scales: { x: { time: true, range: xRange(DAY / 2, DAY / 2) }, y: { range: (u, min, max) => [0, Math.max(100, (max ?? 0) * 1.1)] }, // Rebuffering is a few percent at worst: a fixed 0..1 axis would flatten it to the floor.
          r: { range: (u, min, max) => [0, Math.min(1, Math.max(0.05, (max ?? 0) * 1.2))] } },
        axes: [dayAxis(), yAxis({ label: 'startup p50 (ms)' }), yAxis({ side: 1, scale: 'r', grid: { show: false }, label: 'rebuffer ratio', values: (u, splits) => splits.map((v) => `${+(v * 100).toFixed(1)} %`) })],
        series: [{ label: 'Day', value: (u, v) => (v == null ? '' : dayFmt.format(v * 1000)) },
          { label: 'Startup p50 (ms)', stroke: COLORS[1], width: 2, points: { size: 8 } },
          { label: 'Rebuffer ratio', stroke: COLORS[0], width: 2, scale: 'r', points: { size: 8 }, value: (u, v) => (v == null ? '' : pct(v)) }],
      }, [days.map((g) => Date.parse(`${g.key}T00:00:00Z`) / 1000), days.map((g) => g.startup_ms?.p50 ?? null), days.map((g) => g.rebuffer_ratio)]);
    }
    const tl = conc.timeline || [];
    if (tl.length) {
      chart(concChart, {
        scales: { x: { time: true, range: xRange(0, 0, 30 * 60) }, y: { range: (u, min, max) => [0, Math.max(2, max + 1)] } },
        axes: [clockAxis(), yAxis()],
        series: [{}, { label: 'Viewers', stroke: COLORS[0], fill: 'rgba(229,9,20,0.15)', width: 2, points: { size: 6 } }],
      }, [tl.map((p) => Date.parse(p.minute) / 1000), tl.map((p) => p.viewers)]);
    }
  }
  load();
}

// The kino_active_streams gauge of GET /metrics, every 5 s, while the page is shown.
function live(main, now, el) {
  const xs = [], ys = [];
  let plot = null;
  const tick = async () => {
    if (!main.isConnected) return;
    try {
      const v = await activeStreams();
      xs.push(Date.now() / 1000); ys.push(v ?? 0);
      if (xs.length > 120) { xs.shift(); ys.shift(); }
      if (!plot) {
        // The last ten minutes, whatever uPlot proposes (see xRange).
        const window10 = (u) => { const x = u.data[0], last = x[x.length - 1]; return [last - 600, last + 5]; };
        plot = chart(el, { scales: { x: { time: true, range: window10 }, y: { range: (u, min, max) => [0, Math.max(4, max + 1)] } },
          axes: [clockAxis(true), yAxis()],
          series: [{}, { label: 'Active streams', stroke: COLORS[0], fill: 'rgba(229,9,20,0.15)', width: 2 }] }, [xs, ys]);
      } else plot.setData([xs, ys]);
      now.textContent = v === null ? 'not reported by this server' : `${v} ${v === 1 ? 'stream' : 'streams'} now`;
    } catch (e) { now.textContent = e.message; }
    setTimeout(tick, 5000);
  };
  tick();
}

render();
