// The browser half of the qoe_sdk test (test_qoe_sdk.c starts FerretDB and `kino serve`,
// ingests a clip and passes everything in KINO_* variables). This script starts `kino
// telemetry` itself (it kills and restarts it), and drives Debian's chromium with
// playwright-core on a page at <proxy>/__qoe/page.html, where a small server of this
// script serves the page and hls.js and passes everything else to kino serve (one
// loopback origin, as a site that embeds the SDK has: a page fulfilled by playwright
// itself has no address, and Chromium's local-network checks would then block its
// WebSocket to the loopback collector). The page imports the SDK's standalone bundle
// from /assets/kino-qoe.js, as a third-party page would:
//   1. hls.js plays the clip with the SDK attached: pause, resume, a manual rendition
//      switch, a seek to near the end, the end, detach. MongoDB then holds every beacon
//      the page numbered, once each, seq 0..n-1, with the event the page gave it, and
//      every type of an uneventful play;
//   2. the collector is SIGKILLed mid-session while the video goes on playing (and is
//      paused and resumed), then started again: the SDK reconnects with capped
//      exponential backoff and jitter, resends what was not acknowledged, and MongoDB
//      holds every beacon exactly once;
//   3. the WebSocket is black-holed (playwright's routeWebSocket drops the page's frames)
//      and the page navigates away mid-session: the SDK's pagehide flush delivers the
//      unacknowledged beacons, session_end included, by sendBeacon (POST /v1/beacons),
//      split in several bodies under the configured size;
//   4. unit level, no network: the Shaka adapter on a fake Shaka player and a fake
//      video (renditions, buffering vs seeking, error severities, getStats), the
//      offline buffer's drop policy, the backoff schedule, flush() splitting, and the
//      watchdog that drops a connection that acknowledges nothing.
// Exit 0 on success.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = path.resolve(here, '../../web');
const require = createRequire(path.join(webDir, 'package.json'));
const { chromium } = require('playwright-core');

const env = process.env;
const BASE = env.KINO_BASE;
const PEEK = env.KINO_DB_PEEK;
const hlsjs = readFileSync(path.join(webDir, 'node_modules/hls.js/dist/hls.min.js'));

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
function check(cond, msg) { if (!cond) throw new Error(`check failed: ${msg}`); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, timeoutMs = 20000, everyMs = 200) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---- the collector, which this script kills and restarts ----
async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
const telPort = await freePort();
const TEL_WS = `ws://127.0.0.1:${telPort}/v1/beacons`;
let collector = null;
let collectorRuns = 0;
async function startCollector() {
  const logf = openSync(path.join(env.KINO_WORKDIR, `telemetry-${++collectorRuns}.log`), 'a');
  collector = spawn(env.KINO_BIN, ['telemetry'], {
    env: { PATH: env.PATH, HOME: env.HOME || '/tmp', KINO_MONGO_URI: env.KINO_TEST_MONGO_URI, KINO_DATA_DIR: env.KINO_TEST_DATA_DIR, KINO_TELEMETRY_LISTEN: `127.0.0.1:${telPort}` },
    stdio: ['ignore', logf, logf],
  });
  const exited = new Promise((r) => collector.once('exit', r));
  collector.exited = exited;
  await until('kino telemetry to be healthy', async () => {
    try { return (await fetch(`http://127.0.0.1:${telPort}/healthz`)).status === 200; } catch { return false; }
  });
}
async function killCollector() {
  const c = collector;
  collector = null;
  c.kill('SIGKILL');
  await c.exited;
}
process.on('exit', () => collector?.kill('SIGKILL'));

// ---- the API: a published title, and a playback session per scenario ----
async function api(method, p, token, body) {
  const r = await fetch(BASE + p, {
    method, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}
let titleId;
async function setup() {
  const a = await api('POST', '/api/v1/auth/signin', null, { email: env.KINO_ADMIN_EMAIL, password: env.KINO_ADMIN_PASSWORD });
  check(a.status === 200, `admin sign-in: ${a.status}`);
  const t = await api('POST', '/api/v1/admin/titles', a.json.token, { title: 'QoE clip', tier: 'free', genres: ['Test'], asset_id: env.KINO_ASSET_ID });
  check(t.status === 201, `create title: ${t.status} ${JSON.stringify(t.json)}`);
  check((await api('POST', `/api/v1/admin/titles/${t.json.id}/publish`, a.json.token)).status === 200, 'publish');
  titleId = t.json.id;
}
let viewers = 0;
async function playbackSession() {
  const v = await api('POST', '/api/v1/auth/signup', null, { email: `viewer${++viewers}-${Date.now()}@kino.test`, password: 'viewer pass 123' });
  check(v.status === 201, `viewer sign-up: ${v.status}`);
  const s = await api('POST', `/api/v1/playback/${titleId}`, v.json.token);
  check(s.status === 201, `playback: ${s.status} ${JSON.stringify(s.json)}`);
  return {
    url: TEL_WS, sessionId: s.json.session_id, titleId, assetId: s.json.asset_id,
    token: s.json.hls_url.split('/')[2], hls: new URL(s.json.hls_url, ORIGIN).href,
  };
}

// What MongoDB holds for a session, through the driver: [{seq, event}] in seq order.
async function stored(sessionId) {
  const r = await fetch(PEEK + sessionId);
  check(r.status === 200, `peek: ${r.status}`);
  return r.json();
}
// Every beacon the page numbered is stored exactly once, with its event.
async function checkStoredOnce(label, sessionId, page) {
  const numbered = await page.evaluate(() => window.run.beacons.map((b) => ({ seq: b.seq, event: b.event })));
  return checkAgainst(label, sessionId, numbered);
}
async function checkAgainst(label, sessionId, numbered) {
  const docs = await until(`${label}: session_end in MongoDB`, async () => {
    const d = await stored(sessionId);
    return d.some((b) => b.event === 'session_end') && d.length >= numbered.length ? d : null;
  }, 30000, 500);
  const counts = new Map();
  for (const d of docs) counts.set(d.seq, (counts.get(d.seq) || 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([s]) => s);
  check(twice.length === 0, `${label}: stored more than once: ${twice}`);
  check(docs.length === numbered.length, `${label}: ${docs.length} stored, ${numbered.length} numbered by the page`);
  docs.forEach((d, i) => {
    check(d.seq === i, `${label}: seq ${i} missing (found ${d.seq})`);
    check(d.event === numbered[i].event, `${label}: seq ${i} is ${d.event} in MongoDB, ${numbered[i].event} in the page`);
  });
  log(`${label}: ${docs.length} beacons in MongoDB, seq 0..${docs.length - 1}, each once: ${summary(docs)}`);
  return docs;
}
const summary = (docs) => Object.entries(docs.reduce((m, d) => ({ ...m, [d.event]: (m[d.event] || 0) + 1 }), {})).map(([e, n]) => `${e}×${n}`).join(' ');

// ---- the page, and the server in front of kino serve ----
const proxyPort = await freePort();
const beaconPosts = [];
const ORIGIN = `http://127.0.0.1:${proxyPort}`;
const PAGE = `${ORIGIN}/__qoe/page.html`;
const proxy = http.createServer((req, res) => {
  if (req.url === '/__qoe/page.html') { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end(html); return; }
  if (req.url === '/__qoe/hls.js') { res.writeHead(200, { 'Content-Type': 'text/javascript' }); res.end(hlsjs); return; }
  // Scenario 3's sendBeacon URL: counted here, then on to the collector.
  const beacon = req.url === '/__collector/v1/beacons';
  const up = beacon ? new URL('/v1/beacons', TEL_WS.replace(/^ws/, 'http')) : new URL(req.url, BASE);
  const post = { bytes: 0, status: 0 };
  if (beacon) {
    beaconPosts.push(post);
    req.on('data', (d) => { post.bytes += d.length; });
  }
  const preq = http.request(up, { method: req.method, headers: { ...req.headers, host: up.host }, agent: false }, (pres) => {
    post.status = pres.statusCode;
    res.writeHead(pres.statusCode, pres.headers);
    pres.pipe(res);
  });
  preq.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
  req.pipe(preq);
});
await new Promise((r) => proxy.listen(proxyPort, '127.0.0.1', r));
const html = `<!doctype html><html><body>
<video id="v" muted playsinline width="640" height="360"></video>
<script src="/__qoe/hls.js"></script>
<script type="module">
import * as sdk from '/assets/kino-qoe.js';
window.sdk = sdk;
// One playback with the SDK attached; what it does is kept in window.run.
window.start = (cfg) => {
  const v = document.getElementById('v');
  const run = window.run = { beacons: [], answers: 0, reconnects: [], opens: [], flushes: [], videoEvents: [] };
  for (const e of ['seeking', 'seeked', 'waiting', 'playing', 'pause', 'ended']) v.addEventListener(e, () => run.videoEvents.push(e));
  const hls = window.hls = new Hls({ enableWorker: false });
  window.qoe = sdk.attach(v, {
    url: cfg.url, sessionId: cfg.sessionId, token: cfg.token, titleId: cfg.titleId, assetId: cfg.assetId,
    device: 'test-chromium', durationMs: 20000, hls, ...cfg.options,
    hooks: {
      onBeacon: (b) => run.beacons.push(b),
      onAnswer: () => run.answers++,
      onReconnectScheduled: (r) => run.reconnects.push(r),
      onOpen: (o) => run.opens.push(o),
      onFlush: (f) => run.flushes.push(f),
    },
  });
  hls.loadSource(cfg.hls);
  hls.attachMedia(v);
  v.play().catch(() => {});
};
window.ready = true;
</script></body></html>`;

async function newPage(browser) {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log(`page ${m.type()}: ${m.text()}`); });
  return { ctx, page };
}
async function open(page) {
  await page.goto(PAGE);
  await page.waitForFunction(() => window.ready === true);
}
const stats = (page) => page.evaluate(() => window.qoe.stats());
const playingPast = (page, t) => page.waitForFunction((x) => document.getElementById('v').currentTime > x, t, { timeout: 30000 });

// ---- 1. an ordinary play with hls.js ----
async function scenarioPlay(browser) {
  const { ctx, page } = await newPage(browser);
  await open(page);
  const cfg = await playbackSession();
  await page.evaluate((c) => window.start({ ...c, options: { heartbeatMs: 1000 } }), cfg);
  await playingPast(page, 2);
  await sleep(1500);
  // A manual switch to the other rendition.
  const levels = await page.evaluate(() => ({ n: window.hls.levels.length, cur: window.hls.currentLevel }));
  check(levels.n >= 2, `two renditions in the manifest (${levels.n})`);
  await page.evaluate((to) => { window.hls.currentLevel = to; }, levels.cur === 0 ? 1 : 0);
  await until('a rendition_change after the manual switch', () => page.evaluate(() => new Set(window.run.beacons.filter((b) => b.event === 'rendition_change').map((b) => b.bitrate)).size >= 2));
  await page.evaluate(() => document.getElementById('v').pause());
  await sleep(700);
  await page.evaluate(() => document.getElementById('v').play());
  await playingPast(page, await page.evaluate(() => document.getElementById('v').currentTime + 0.5));
  await page.evaluate(() => { const v = document.getElementById('v'); v.currentTime = v.duration - 1.5; });
  await page.waitForFunction(() => document.getElementById('v').ended, null, { timeout: 30000 });
  await until('every beacon acknowledged', async () => (await stats(page)).pending === 0);
  await page.evaluate(() => window.qoe.detach());
  const docs = await checkStoredOnce('hls.js play', cfg.sessionId, page);
  const types = new Set(docs.map((d) => d.event));
  for (const t of ['session_start', 'playing', 'heartbeat', 'rendition_change', 'pause', 'resume', 'seek', 'ended', 'session_end']) {
    check(types.has(t), `hls.js play: no ${t} beacon`);
  }
  const r = await page.evaluate(() => ({ beacons: window.run.beacons, videoEvents: window.run.videoEvents, rejected: window.qoe.transport.rejected }));
  check(r.rejected.length === 0, `refused beacons: ${JSON.stringify(r.rejected)}`);
  const seek = r.beacons.find((b) => b.event === 'seek');
  check(seek.playhead_ms > 15000 && seek.from_ms < seek.playhead_ms, `seek target and origin: ${JSON.stringify(seek)}`);
  // A stall while seeking is the seek's: no rebuffer from the seek to the end.
  const afterSeek = r.beacons.filter((b) => b.seq > seek.seq).map((b) => b.event);
  check(!afterSeek.includes('rebuffer_start'), `a seek-induced stall counted as a rebuffer: ${afterSeek}`);
  const hb = r.beacons.find((b) => b.event === 'heartbeat');
  check(hb.bitrate > 0 && hb.player_width === 640 && hb.player_height === 360 && hb.width > 0 && Number.isInteger(hb.dropped_frames) && hb.buffer_ms >= 0,
    `heartbeat fields: ${JSON.stringify(hb)}`);
  const playing = r.beacons.find((b) => b.event === 'playing');
  check(playing.startup_ms > 0 && playing.startup_ms < 30000, `startup_ms: ${playing.startup_ms}`);
  log(`hls.js play: video events ${r.videoEvents.join(',')}`);
  check(page.errors.length === 0, `page errors: ${page.errors}`);
  await ctx.close();
}

// ---- 2. the collector dies mid-session and comes back ----
async function scenarioCollectorDown(browser) {
  const { ctx, page } = await newPage(browser);
  await open(page);
  const cfg = await playbackSession();
  const backoff = { initialMs: 250, maxMs: 2000 };
  await page.evaluate((c) => window.start(c), { ...cfg, options: { heartbeatMs: 500, backoff, ackTimeoutMs: 4000 } });
  await playingPast(page, 1);
  await until('3 acks', async () => (await stats(page)).acked >= 3);
  await killCollector();
  const killedAt = Date.now();
  log('collector: SIGKILLed');
  await sleep(2500);
  await page.evaluate(() => document.getElementById('v').pause());
  await sleep(500);
  await page.evaluate(() => document.getElementById('v').play());
  await sleep(3500);
  const during = await stats(page);
  check(!during.connected && during.pending >= 8, `while the collector is down: ${JSON.stringify(during)}`);
  const t0 = await page.evaluate(() => document.getElementById('v').currentTime);
  const restartedAt = Date.now(); // spawned now; it may take a connection before /healthz says so
  await startCollector();
  log(`collector: restarted after ${((restartedAt - killedAt) / 1000).toFixed(1)} s; ${during.pending} beacons pending`);
  await until('the pending beacons acknowledged', async () => (await stats(page)).pending === 0, 20000);
  const t1 = await page.evaluate(() => document.getElementById('v').currentTime);
  check(t1 > t0, 'the video kept playing');
  await page.evaluate(() => window.qoe.detach());
  await checkStoredOnce('collector killed', cfg.sessionId, page);
  // Backoff: while it was down, each retry waited base/2..base, base doubling up to maxMs.
  const r = await page.evaluate(() => ({ reconnects: window.run.reconnects, opens: window.run.opens }));
  const down = r.reconnects.filter((x) => x.at >= killedAt - 50 && x.at <= restartedAt);
  log(`reconnects while down: ${down.map((x) => `${x.delay}/${x.base}`).join(' ')} (delay/base ms)`);
  check(down.length >= 4, `at least 4 reconnect attempts while the collector was down (${down.length})`);
  down.forEach((x, i) => {
    check(x.base === Math.min(backoff.maxMs, backoff.initialMs * 2 ** i), `attempt ${i}: base ${x.base}`);
    check(x.delay >= x.base / 2 && x.delay <= x.base, `attempt ${i}: delay ${x.delay} outside [base/2, base]`);
  });
  check(down.some((x) => x.base === backoff.maxMs), 'the backoff reached its cap');
  check(new Set(down.map((x) => x.delay)).size > 1, 'jitter');
  check(r.opens.some((o) => o.at >= restartedAt), 'reconnected after the restart');
  check(page.errors.length === 0, `page errors: ${page.errors}`);
  await ctx.close();
}

// ---- 3. the page goes away with beacons unacknowledged ----
async function scenarioUnload(browser) {
  const { ctx, page } = await newPage(browser);
  let hold = false;
  const held = [];
  await ctx.routeWebSocket(/\/v1\/beacons$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      if (!hold) { server.send(m); return; }
      for (const b of [].concat(JSON.parse(m))) held.push(b.seq);
    });
    server.onMessage((m) => ws.send(m));
  });
  // sendBeacon goes through this script's server (beaconUrl), which counts the POSTs:
  // playwright does not report requests a page makes as it unloads.
  const posts = beaconPosts;
  await open(page);
  const cfg = await playbackSession();
  await page.evaluate((c) => window.start(c), { ...cfg, options: { heartbeatMs: 500, ackTimeoutMs: 60000, maxBeaconBytes: 1024, beaconUrl: `${ORIGIN}/__collector/v1/beacons` } });
  await playingPast(page, 1);
  await until('3 acks', async () => (await stats(page)).acked >= 3);
  hold = true;
  await page.evaluate(() => { const v = document.getElementById('v'); v.pause(); v.play(); v.currentTime = 10; });
  await sleep(3000);
  const before = await page.evaluate(() => ({ s: window.qoe.stats(), beacons: window.run.beacons.map((b) => ({ seq: b.seq, event: b.event })) }));
  check(before.s.pending >= 6 && held.length >= 6, `unacknowledged before leaving: ${before.s.pending} pending, ${held.length} held`);
  log(`leaving with ${before.s.pending} beacons unacknowledged (${held.length} frames held back from the collector)`);
  await page.goto('about:blank');
  // Every beacon numbered before leaving, and session_end after them: all delivered
  // by sendBeacon, since the socket carried none of the held ones.
  // (The heartbeats numbered between `before` and pagehide are known by their seq only.)
  const numbered = [...before.beacons];
  let last = [];
  const docs = await until('the flushed beacons in MongoDB', async () => {
    const d = last = await stored(cfg.sessionId);
    const end = d.find((b) => b.event === 'session_end');
    return end && d.length >= end.seq + 1 ? d : null;
  }, 30000, 500).catch((e) => { throw new Error(`${e.message}: stored ${JSON.stringify(last)}`); });
  const bySeq = new Map(docs.map((d) => [d.seq, d.event]));
  const endSeq = docs.find((b) => b.event === 'session_end').seq;
  for (let s = numbered.length; s <= endSeq; s++) numbered.push({ seq: s, event: bySeq.get(s) });
  check(numbered[numbered.length - 1].event === 'session_end', `the last beacon is session_end: ${JSON.stringify(numbered.slice(-2))}`);
  await checkAgainst('navigated away', cfg.sessionId, numbered);
  const stored_ = new Set(docs.map((d) => d.seq));
  check(held.every((s) => stored_.has(s)), 'every beacon held back from the socket reached MongoDB by POST');
  await until('the answers to the POSTs', () => posts.length && posts.every((p) => p.status), 10000)
    .catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(posts)}`); });
  log(`sendBeacon: ${posts.length} POST /v1/beacons (${posts.map((p) => `${p.bytes} B -> ${p.status}`).join(', ')})`);
  check(posts.length >= 2, `the flush was split in several sendBeacon calls (${posts.length})`);
  check(posts.every((p) => p.bytes <= 1024 && p.status === 200), 'each body within maxBeaconBytes, and taken (200)');
  await ctx.close();
}

// ---- 4. unit level: fakes, no network ----
async function scenarioUnit(browser) {
  const { ctx, page } = await newPage(browser);
  await open(page);
  const r = await page.evaluate(async () => {
    const { attach, BeaconTransport } = window.sdk;
    const out = {};
    // A WebSocket that opens and acknowledges everything; one that never connects.
    class AckingSocket extends EventTarget {
      constructor() { super(); this.readyState = 0; setTimeout(() => { this.readyState = 1; this.onopen?.(); }, 0); }
      send(text) { for (const b of [].concat(JSON.parse(text))) setTimeout(() => this.onmessage?.({ data: JSON.stringify({ type: 'ack', session_id: b.session_id, seq: b.seq }) }), 0); }
      close() { this.readyState = 3; }
    }
    class DeadSocket { constructor() { this.readyState = 0; setTimeout(() => this.onclose?.(), 0); } send() {} close() {} }
    const tick = (ms = 5) => new Promise((res) => setTimeout(res, ms));

    // The video: an EventTarget with the properties the SDK reads.
    const video = Object.assign(new EventTarget(), {
      currentTime: 0, seeking: false, paused: true, ended: false, readyState: 4, clientWidth: 1280, clientHeight: 720,
      videoWidth: 0, videoHeight: 0, buffered: { length: 1, start: () => 0, end: () => 30 },
    });
    const fire = (target, type, props) => target.dispatchEvent(Object.assign(new Event(type), props || {}));
    // The Shaka player, as its documentation describes it.
    let variant = { active: true, bandwidth: 800000, width: 854, height: 480 };
    const shaka = Object.assign(new EventTarget(), {
      getVariantTracks: () => [{ active: false, bandwidth: 300000, width: 426, height: 240 }, variant],
      getStats: () => ({ width: variant.width, height: variant.height, streamBandwidth: variant.bandwidth, droppedFrames: 7, bufferingTime: 0 }),
    });
    const beacons = [];
    const q = attach(video, {
      url: 'ws://fake/v1/beacons', sessionId: 's1', token: 't', titleId: 'ti', assetId: 'as', shaka,
      heartbeatMs: 3600000, flushOnHide: false, WebSocket: AckingSocket, sendBeacon: () => true,
      hooks: { onBeacon: (b) => beacons.push(b) },
    });
    fire(shaka, 'buffering', { buffering: true }); // before the first frame: startup, not a rebuffer
    fire(shaka, 'buffering', { buffering: false });
    video.paused = false; video.currentTime = 0.1; fire(video, 'play'); fire(video, 'playing');
    fire(shaka, 'adaptation');
    video.currentTime = 3;
    fire(shaka, 'buffering', { buffering: true }); fire(video, 'waiting'); // one stall, two signals
    video.currentTime = 3.2;
    fire(shaka, 'buffering', { buffering: false }); fire(video, 'playing');
    fire(video, 'timeupdate');
    video.seeking = true; video.currentTime = 20; fire(video, 'seeking');
    fire(shaka, 'buffering', { buffering: true }); fire(video, 'waiting'); // the seek's own stall
    video.seeking = false; video.readyState = 1; fire(video, 'seeked');
    fire(video, 'waiting'); // still the seek: no data at the target yet
    fire(shaka, 'buffering', { buffering: false });
    video.readyState = 4; fire(video, 'canplay'); fire(video, 'playing');
    variant = { active: true, bandwidth: 300000, width: 426, height: 240 };
    fire(shaka, 'variantchanged');
    fire(shaka, 'error', { detail: { code: 1001, severity: 1 } });
    q.heartbeat();
    video.paused = true; fire(video, 'pause'); video.paused = false; fire(video, 'play');
    fire(shaka, 'error', { detail: { code: 3016, severity: 2 } });
    video.currentTime = 30; video.ended = true; fire(video, 'ended');
    await tick(20);
    const ackedBeforeDetach = q.stats().acked;
    q.detach({ lingerMs: 0 }); // session_end goes by sendBeacon: the socket is closed at once
    await tick(20);
    out.shaka = beacons.map((b) => b.event);
    out.details = {
      renditions: beacons.filter((b) => b.event === 'rendition_change').map((b) => `${b.bitrate}:${b.width}x${b.height}`),
      errors: beacons.filter((b) => b.event === 'error').map((b) => `${b.code}:${b.fatal}`),
      heartbeat: beacons.find((b) => b.event === 'heartbeat'),
      seek: beacons.find((b) => b.event === 'seek'),
      seqs: beacons.map((b) => b.seq),
      acked: ackedBeforeDetach,
    };
    // Shaka's listeners are gone after detach.
    fire(shaka, 'error', { detail: { code: 1, severity: 2 } });
    out.afterDetach = beacons.length;

    // The offline buffer: never session_start/end, oldest heartbeats first.
    const dropped = [];
    const t = new BeaconTransport({ url: 'ws://fake', sessionId: 's2', maxPending: 5, WebSocket: DeadSocket, backoff: { initialMs: 10, maxMs: 40 }, hooks: { onDrop: (b) => dropped.push(b.seq) } });
    t.push('session_start', {});
    for (let i = 0; i < 4; i++) t.push('heartbeat', {});
    t.push('seek', { playhead_ms: 1 });
    t.push('heartbeat', {});
    t.push('pause', {});
    for (let i = 0; i < 3; i++) t.push('resume', {});
    t.push('session_end', {});
    out.buffer = { kept: [...t.pending.values()].map((e) => `${e.beacon.seq}:${e.beacon.event}`), dropped, stats: t.stats() };
    t.close();
    // The backoff of a collector that never answers: base doubles to the cap, with jitter.
    const sched = [];
    const t2 = new BeaconTransport({ url: 'ws://fake', sessionId: 's3', WebSocket: DeadSocket, backoff: { initialMs: 10, maxMs: 40 }, hooks: { onReconnectScheduled: (x) => sched.push(x) } });
    await tick(400);
    t2.close();
    out.backoff = sched.slice(0, 6).map((x) => [x.base, x.delay]);
    // flush(): split under maxBeaconBytes, session_start first, heartbeats last; stops
    // when the browser refuses.
    const bodies = [];
    const t3 = new BeaconTransport({ url: 'ws://fake/v1/beacons', sessionId: 's4', WebSocket: DeadSocket, maxBeaconBytes: 600, sendBeacon: (u, blob) => { bodies.push({ u, blob }); return true; } });
    t3.push('heartbeat', { pad: 'x'.repeat(100) });
    t3.push('session_start', { pad: 'x'.repeat(100) });
    for (let i = 0; i < 8; i++) t3.push(i % 2 ? 'heartbeat' : 'seek', { pad: 'x'.repeat(100) });
    out.flushAccepted = t3.flush();
    t3.close();
    out.flush = [];
    for (const b of bodies) out.flush.push({ u: b.u, size: b.blob.size, type: b.blob.type, seqs: JSON.parse(await b.blob.text()).map((x) => `${x.seq}:${x.event}`) });
    let calls = 0;
    const t4 = new BeaconTransport({ url: 'ws://fake', sessionId: 's5', WebSocket: DeadSocket, maxBeaconBytes: 300, sendBeacon: () => ++calls < 2 });
    for (let i = 0; i < 6; i++) t4.push('heartbeat', { pad: 'x'.repeat(100) });
    out.refused = { accepted: t4.flush(), calls, failed: t4.stats().beaconFailed };
    t4.close();
    // A collector that takes the connection and never answers (frozen, or a half-open
    // TCP connection): the watchdog drops the socket and the beacon goes again.
    let opened = 0;
    const timeouts = [];
    class SilentSocket { constructor() { opened++; this.readyState = 0; setTimeout(() => { this.readyState = 1; this.onopen?.(); }, 0); } send() {} close() { this.readyState = 3; } }
    const t5 = new BeaconTransport({ url: 'ws://fake', sessionId: 's6', WebSocket: SilentSocket, ackTimeoutMs: 100, backoff: { initialMs: 10, maxMs: 20 }, hooks: { onAckTimeout: (x) => timeouts.push(x.seq) } });
    t5.push('session_start', {});
    await tick(800);
    out.watchdog = { timeouts, opened, stats: t5.stats() };
    t5.close();
    // A collector that says "back off" to one beacon: the transport holds everything
    // for retry_after_s, then sends the backed-off beacon and those pushed meanwhile,
    // in seq order, in one message.
    const messages = [];
    let refusedOnce = false;
    class BusySocket {
      constructor() { this.readyState = 0; setTimeout(() => { this.readyState = 1; this.onopen?.(); }, 0); }
      send(text) {
        const list = [].concat(JSON.parse(text));
        messages.push(list.map((x) => x.seq));
        for (const x of list) {
          const busy = x.seq === 1 && !refusedOnce;
          if (busy) refusedOnce = true;
          const answer = busy ? { type: 'backoff', session_id: x.session_id, seq: x.seq, retry_after_s: 0.1 } : { type: 'ack', session_id: x.session_id, seq: x.seq };
          setTimeout(() => this.onmessage?.({ data: JSON.stringify(answer) }), 0);
        }
      }
      close() { this.readyState = 3; }
    }
    const t6 = new BeaconTransport({ url: 'ws://fake', sessionId: 's7', WebSocket: BusySocket });
    await tick(10);
    t6.push('session_start', {});
    t6.push('playing', {});
    await tick(20); // the back-off has come: the hold begins
    t6.push('heartbeat', {});
    t6.push('heartbeat', {});
    const duringHold = messages.length;
    await tick(300);
    out.hold = { messages, duringHold, stats: t6.stats() };
    t6.close();
    // A window of 4 against a collector that answers only when asked: a backlog of 10
    // goes 4 at a time, the next as answers come, in seq order, and all of it in the end.
    const held = [];
    let sock = null;
    class SlowSocket {
      constructor() { sock = this; this.readyState = 0; setTimeout(() => { this.readyState = 1; this.onopen?.(); }, 0); }
      send(text) { for (const x of [].concat(JSON.parse(text))) held.push(x); }
      close() { this.readyState = 3; }
    }
    const answerAll = () => { for (const x of held.splice(0)) sock.onmessage?.({ data: JSON.stringify({ type: 'ack', session_id: x.session_id, seq: x.seq }) }); };
    const t7 = new BeaconTransport({ url: 'ws://fake', sessionId: 's8', WebSocket: SlowSocket, maxInFlight: 4 });
    for (let i = 0; i < 10; i++) t7.push('heartbeat', {});
    await tick(10);
    const rounds = [];
    for (let i = 0; i < 5 && held.length; i++) { rounds.push(held.map((x) => x.seq)); answerAll(); await tick(5); }
    out.window = { rounds, stats: t7.stats() };
    t7.close();
    return out;
  });
  log(`unit: shaka beacons ${r.shaka.join(',')}`);
  const want = ['session_start', 'playing', 'rendition_change', 'rebuffer_start', 'rebuffer_end', 'seek', 'rendition_change',
    'error', 'heartbeat', 'pause', 'resume', 'error', 'ended', 'session_end'];
  check(JSON.stringify(r.shaka) === JSON.stringify(want), `shaka adapter beacons:\n  got  ${r.shaka}\n  want ${want}`);
  check(JSON.stringify(r.details.renditions) === JSON.stringify(['800000:854x480', '300000:426x240']), `renditions: ${r.details.renditions}`);
  check(JSON.stringify(r.details.errors) === JSON.stringify(['shaka_1001:false', 'shaka_3016:true']), `errors: ${r.details.errors}`);
  const hb = r.details.heartbeat;
  check(hb.bitrate === 300000 && hb.dropped_frames === 7 && hb.player_width === 1280 && hb.player_height === 720 && hb.width === 426 && hb.height === 240 && hb.buffer_ms === 10000 && hb.playhead_ms === 20000,
    `heartbeat from getStats and the video: ${JSON.stringify(hb)}`);
  check(r.details.seek.playhead_ms === 20000 && r.details.seek.from_ms === 3200, `seek: ${JSON.stringify(r.details.seek)}`);
  check(r.details.seqs.every((s, i) => s === i), `seqs: ${r.details.seqs}`);
  check(r.details.acked === want.length - 1, `acked before detach: ${r.details.acked}`);
  check(r.afterDetach === want.length, 'no beacon after detach');
  log(`unit: offline buffer kept ${r.buffer.kept.join(' ')}; dropped ${r.buffer.dropped}`);
  check(JSON.stringify(r.buffer.kept) === JSON.stringify(['0:session_start', '8:resume', '9:resume', '10:resume', '11:session_end']),
    `offline buffer: ${r.buffer.kept}`);
  check(JSON.stringify(r.buffer.dropped) === JSON.stringify([1, 2, 3, 4, 6, 5, 7]), `dropped: ${r.buffer.dropped} (heartbeats first, then the oldest event)`);
  check(r.buffer.stats.dropped === 7, `dropped count ${r.buffer.stats.dropped}`);
  log(`unit: backoff [base, delay] ${JSON.stringify(r.backoff)}`);
  check(r.backoff.length >= 4 && r.backoff.every(([b, d], i) => b === Math.min(40, 10 * 2 ** i) && d >= b / 2 && d <= b), `backoff: ${JSON.stringify(r.backoff)}`);
  log(`unit: flush ${JSON.stringify(r.flush.map((f) => [f.size, f.seqs.join(' ')]))}`);
  check(r.flushAccepted === 10 && r.flush.length >= 3, `flush: ${r.flushAccepted} accepted in ${r.flush.length} calls`);
  check(r.flush.every((f) => f.size <= 600 && f.u === 'http://fake/v1/beacons' && f.type.startsWith('text/plain')), 'flush bodies: size, URL, type');
  const order = r.flush.flatMap((f) => f.seqs);
  check(order[0] === '1:session_start' && order.slice(-5).every((s) => s.endsWith('heartbeat')), `flush order: ${order}`);
  check(r.refused.calls === 2 && r.refused.failed === 1 && r.refused.accepted > 0 && r.refused.accepted < 6, `flush stops when the browser refuses: ${JSON.stringify(r.refused)}`);
  check(r.watchdog.timeouts.length >= 1 && r.watchdog.timeouts.every((s) => s === 0) && r.watchdog.opened >= 2 && r.watchdog.stats.pending === 1 && r.watchdog.stats.sent >= 2,
    `ack watchdog: ${JSON.stringify(r.watchdog)}`);
  log(`unit: back-off hold, messages ${JSON.stringify(r.hold.messages)}`);
  check(r.hold.duringHold === 2 && JSON.stringify(r.hold.messages) === JSON.stringify([[0], [1], [1, 2, 3]]) &&
    r.hold.stats.pending === 0 && r.hold.stats.acked === 4,
  `back-off: nothing sent during the hold, then seq order from the backed-off beacon: ${JSON.stringify(r.hold)}`);
  log(`unit: window of 4, sent per round ${JSON.stringify(r.window.rounds)}`);
  check(JSON.stringify(r.window.rounds) === JSON.stringify([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]) &&
    r.window.stats.acked === 10 && r.window.stats.pending === 0,
  `window: at most 4 unanswered, the next as answers come, in seq order: ${JSON.stringify(r.window)}`);
  check(page.errors.length === 0, `page errors: ${page.errors}`);
  await ctx.close();
}

async function main() {
  await setup();
  await startCollector();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const only = env.KINO_QOE_ONLY; // one scenario by name, when debugging
    const scenarios = { unit: scenarioUnit, play: scenarioPlay, down: scenarioCollectorDown, unload: scenarioUnload };
    for (const [name, fn] of Object.entries(scenarios)) {
      if (only && only !== name) continue;
      log(`---- ${name} ----`);
      await fn(browser);
    }
    log('qoe_sdk passed');
  } finally {
    await browser.close();
    proxy.close();
    if (collector) await killCollector();
  }
}

main().catch((e) => {
  console.error(`qoe_sdk FAILED: ${e.stack || e}`);
  if (collector) collector.kill('SIGKILL');
  process.exit(1);
});
