// The browser half of the web_journey test (see test_web_journey.c, which starts the
// servers and passes everything in KINO_* variables). playwright-core drives Debian's
// chromium, headless:
//   1. the admin signs in to /admin, creates "Big Buck Bunny" with the video (uploaded
//      with tus and transcoded by a worker when KINO_ASSET_MODE=upload, else the
//      ingested KINO_ASSET_ID) and publishes it;
//   2. a viewer signs up and sees it on the home screen, opens the title page, searches;
//   3. plays it for 10 s in HLS (the QoE beacons acknowledged by the collector), picks a
//      quality by hand, sees seek-bar thumbnails, then switches to DASH and plays 10 s
//      more: currentTime advances and no error is shown; leaving the player stops the
//      session and the title page offers to resume;
//   4. turns subtitles on for a subtitled title, is refused a premium one with its
//      reason (not_subscribed), and sees hls.js switch rendition on a throttled network;
//   5. the admin finds the viewer on the Users page (search by email, role filter), sees their
//      role, changes it with the confirmation dialog and back; the Recommendations page
//      shows its model and "Retrain now", or says it is not available on this server;
//   6. the analytics dashboard shows the plays with their watch time.
// A screenshot of each page goes to KINO_ARTIFACTS. Exit 0 on success.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(here, '../../web/package.json'));
const { chromium } = require('playwright-core');

const env = process.env;
const BASE = env.KINO_BASE;
const API = env.KINO_API_UPSTREAM;
const WEB = env.KINO_WEB_UPSTREAM;
const ART = env.KINO_ARTIFACTS || path.resolve('artifacts');
const ADMIN = { email: env.KINO_ADMIN_EMAIL, password: env.KINO_ADMIN_PASSWORD };
const VIEWER = { email: `viewer-${Date.now()}@kino.test`, password: 'viewer pass 123' };
mkdirSync(ART, { recursive: true });
for (const f of readdirSync(ART)) if (f.endsWith('.png')) rmSync(path.join(ART, f)); // only this run's

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
function check(cond, msg) { if (!cond) throw new Error(`check failed: ${msg}`); }

// One origin for the browser: the API and the origin from kino serve, the apps from the
// driver's kino_web server (only until kino serve serves them itself).
async function startProxy() {
  const port = Number(new URL(BASE).port);
  const server = http.createServer((req, res) => {
    // The reports go to the driver's in-process server while kino serve lacks them.
    const api = /^\/(api\/|media\/|metrics|healthz)/.test(req.url) &&
      !(env.KINO_REPORTS_UPSTREAM === 'web' && req.url.startsWith('/api/v1/reports/'));
    const up = new URL(req.url, api ? API : WEB);
    const preq = http.request(up, { method: req.method, headers: { ...req.headers, host: up.host }, agent: false }, (pres) => {
      res.writeHead(pres.statusCode, pres.headers);
      pres.pipe(res);
    });
    preq.on('error', (e) => { log(`proxy: ${req.method} ${req.url}: ${e.message}`); res.writeHead(502); res.end(String(e)); });
    req.pipe(preq);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  log(`proxy on ${BASE}: /api, /media -> ${API}; the apps -> ${WEB}`);
  return server;
}

const shots = [];
async function shot(page, name) {
  const file = path.join(ART, `${name}.png`);
  await page.screenshot({ path: file });
  shots.push(file);
  log(`screenshot ${file}`);
}

function watchErrors(page, label) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(`${label}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') log(`${label} console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) log(`${label}: ${r.request().method()} ${new URL(r.url()).pathname} -> ${r.status()}`); });
  return errors;
}

async function api(method, p, token, body) {
  const r = await fetch(API + p, {
    method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

async function activeStreams() {
  const t = await (await fetch(`${API}/metrics`)).text();
  const m = /^kino_active_streams(?:\{[^}]*\})?\s+([0-9.]+)/m.exec(t);
  return m ? Number(m[1]) : null;
}

async function playFor(page, seconds, label) {
  await page.waitForFunction(() => {
    const v = document.querySelector('video');
    return v && v.currentTime > 0.2 && !v.paused;
  }, null, { timeout: 30000 }).catch(async (e) => {
    const state = await page.evaluate(() => ({ state: document.querySelector('.player')?.dataset.state, msg: document.querySelector('.player-message')?.innerText }));
    throw new Error(`${label}: playback did not start: ${JSON.stringify(state)} (${e.message})`);
  });
  const t0 = await page.evaluate(() => document.querySelector('video').currentTime);
  await page.waitForTimeout(seconds * 1000);
  const r = await page.evaluate(() => ({
    t: document.querySelector('video').currentTime,
    state: document.querySelector('.player').dataset.state,
    engine: document.querySelector('.player').dataset.engine,
    rendition: document.querySelector('.player').dataset.rendition,
    message: document.querySelector('.player-message').hidden ? null : document.querySelector('.player-message').innerText,
  }));
  log(`${label}: currentTime ${t0.toFixed(2)} -> ${r.t.toFixed(2)}, state ${r.state}, rendition ${r.rendition}`);
  check(r.message === null, `${label}: the player shows an error: ${r.message}`);
  check(r.state !== 'error', `${label}: the player is in the error state`);
  check(r.t - t0 > seconds * 0.6, `${label}: currentTime advanced only ${(r.t - t0).toFixed(2)} s in ${seconds} s`);
  return r;
}

async function main() {
  const proxy = WEB ? await startProxy() : null;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
  const errors = [];
  try {
    // ---- 1. the admin ----
    const adminCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const admin = await adminCtx.newPage();
    const adminErrors = watchErrors(admin, 'admin');
    await admin.goto(`${BASE}/admin`);
    await admin.getByLabel('Email').fill(ADMIN.email);
    await admin.getByLabel('Password').fill(ADMIN.password);
    await shot(admin, '01-admin-signin');
    await admin.getByRole('button', { name: 'Sign in' }).click();
    await admin.getByRole('heading', { name: 'Titles' }).waitFor();
    await shot(admin, '02-admin-titles-empty');
    await admin.getByRole('link', { name: '+ New title' }).click();
    await admin.getByRole('heading', { name: 'New title' }).waitFor();
    await admin.getByLabel('Title', { exact: true }).fill('Big Buck Bunny');
    await admin.getByLabel('Synopsis').fill('A giant rabbit takes revenge on three bullying rodents. A short film of the Blender Foundation (CC-BY 3.0).');
    await admin.getByLabel('Genres').fill('Animation, Comedy');
    await admin.getByLabel('Year').fill('2008');
    await admin.getByLabel('Cast').fill('Big Buck Bunny, Frank, Rinky, Gimera');
    await admin.getByLabel('Maturity rating').fill('G');
    if (env.KINO_ASSET_MODE === 'upload') {
      await admin.getByLabel('Video file to upload').setInputFiles(env.KINO_CLIP);
      await admin.getByRole('button', { name: 'Upload', exact: true }).click();
      await shot(admin, '03-admin-uploading');
      await admin.getByText(/^Done: asset [0-9a-f]+/).waitFor({ timeout: 240000 });
      log(`upload and job done: asset ${await admin.getByLabel('Asset id').inputValue()}`);
    } else {
      await admin.getByLabel('Asset id').fill(env.KINO_ASSET_ID);
    }
    await shot(admin, '03-admin-new-title');
    await admin.getByRole('button', { name: 'Create title' }).click();
    await admin.waitForURL(/\/admin\/titles\/[0-9a-f]{24}$/);
    const titleId = admin.url().split('/').pop();
    await admin.getByRole('button', { name: 'Publish Big Buck Bunny' }).click();
    await admin.locator('.state-line .badge.ok', { hasText: 'Published' }).waitFor();
    await shot(admin, '04-admin-title-published');
    await admin.getByRole('link', { name: 'Titles', exact: true }).click();
    await admin.getByRole('link', { name: 'Big Buck Bunny' }).waitFor();
    await shot(admin, '05-admin-titles');
    log(`admin: title ${titleId} created and published`);

    // A premium title with the same video, for the refusal (through the API: the UI path
    // is the one above).
    const adminToken = await admin.evaluate(() => JSON.parse(localStorage.getItem('kino.admin.session')).token);
    const prem = await api('POST', '/api/v1/admin/titles', adminToken, { title: 'Bunny Premium Cut', tier: 'premium', genres: ['Animation'], asset_id: env.KINO_ASSET_ID, year: 2008 });
    check(prem.status === 201, `premium title: ${prem.status}`);
    check((await api('POST', `/api/v1/admin/titles/${prem.json.id}/publish`, adminToken)).status === 200, 'publish premium');

    // ---- 2. the viewer ----
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    // The QoE SDK's collector: the test's `kino telemetry`, on a port of its own.
    await ctx.addInitScript((url) => localStorage.setItem('kino.telemetry.url', url), env.KINO_TELEMETRY_WS);
    const page = await ctx.newPage();
    const viewerErrors = watchErrors(page, 'viewer');
    await page.goto(`${BASE}/`);
    await page.waitForURL(/\/signin/);
    await shot(page, '06-viewer-signin');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Email').fill(VIEWER.email);
    await page.getByLabel('Password').fill(VIEWER.password);
    await shot(page, '07-viewer-signup');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${BASE}/`);
    const card = page.locator('.row .card', { hasText: 'Big Buck Bunny' }).first();
    await card.waitFor();
    check(await page.locator('.row-reason').count() > 0, 'the home rows show their reasons');
    await shot(page, '08-viewer-home');
    await page.setViewportSize({ width: 390, height: 844 }); // a phone
    await shot(page, '08-viewer-home-phone');
    await page.setViewportSize({ width: 1280, height: 720 });
    log('viewer: the title is on the home screen');
    // Keyboard: focus the card and open it with Enter.
    await card.focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(`${BASE}/title/${titleId}`);
    await page.getByRole('heading', { name: 'Big Buck Bunny' }).waitFor();
    await shot(page, '09-viewer-title');
    await page.getByLabel('Search titles').fill('bunny');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/search\?q=bunny/);
    await page.locator('.grid .card', { hasText: 'Big Buck Bunny' }).waitFor();
    await shot(page, '10-viewer-search');

    // ---- 3. playback: HLS, then DASH ----
    await page.goto(`${BASE}/title/${titleId}`);
    await page.getByRole('link', { name: /Play/ }).click();
    await page.waitForURL(`${BASE}/watch/${titleId}`);
    check(await page.locator('.player').getAttribute('data-engine') === 'hls', 'HLS is the default');
    await playFor(page, 10, 'HLS');
    check(await activeStreams() === 1, 'one live stream lease while playing');
    await shot(page, '11-player-hls');
    // The QoE beacons so far (session_start, playing, rendition, a heartbeat) are
    // acknowledged by the collector, which acknowledges only what is durable.
    if (env.KINO_BEACONS === '1') {
      await page.waitForFunction(() => window.kinoPlayer?.qoe?.stats().acked >= 3, null, { timeout: 15000 }).catch(() => {});
      const qoe = await page.evaluate(() => {
        const q = window.kinoPlayer.qoe;
        return { ...q.stats(), rejected: q.transport.rejected, url: q.transport.url };
      });
      log(`QoE beacons: ${qoe.acked} acknowledged, ${qoe.pending} pending, ${qoe.rejected.length} refused`);
      check(qoe.acked >= 3 && qoe.rejected.length === 0, `QoE beacons: ${JSON.stringify(qoe)}`);
    } else {
      log('QoE beacons: not checked (kino telemetry has no beacon endpoint yet)');
    }

    // The manual quality menu: pick the lowest rendition.
    const quality = page.getByLabel('Quality');
    const labels = await quality.locator('option').allInnerTexts();
    log(`quality menu: ${labels.join(' | ')}`);
    check(labels.length >= 3, 'Auto and the two renditions in the quality menu');
    await quality.selectOption({ label: labels[labels.length - 1] });
    await page.waitForFunction(() => document.querySelector('.player').dataset.rendition === '240p', null, { timeout: 20000 });
    log('manual quality: 240p rendered');
    await quality.selectOption('-1');


    // Seek-bar thumbnails from the trick-play VTT.
    const bar = page.getByLabel('Seek');
    const box = await bar.boundingBox();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2);
    await page.waitForFunction(() => {
      const p = document.querySelector('.preview-img');
      return p && !p.hidden && /sprite-\d+\.jpg/.test(p.style.backgroundImage);
    }, null, { timeout: 10000 });
    await shot(page, '12-player-thumbnail');
    log('seek-bar thumbnail shown');

    await page.getByRole('button', { name: 'DASH' }).click();
    await page.waitForFunction(() => document.querySelector('.player').dataset.engine === 'dash');
    await playFor(page, 10, 'DASH');
    await shot(page, '13-player-dash');

    // Leaving stops the session; the title page offers to resume.
    await page.getByRole('button', { name: 'Back to the title' }).click();
    await page.getByRole('link', { name: /Resume from/ }).waitFor();
    await shot(page, '14-viewer-title-resume');
    let streams = null;
    for (let i = 0; i < 50 && streams !== 0; i++) { streams = await activeStreams(); await page.waitForTimeout(100); }
    check(streams === 0, `the session was stopped on leave (active streams: ${streams})`);
    log('leaving the player stopped the session; resume offered');

    // ---- subtitles, on a title whose asset has an English track ----
    const subbed = await api('POST', '/api/v1/admin/titles', adminToken, { title: 'Big Buck Bunny (subtitled)', tier: 'free', genres: ['Animation'], asset_id: env.KINO_ASSET_ID });
    check(subbed.status === 201, `subtitled title: ${subbed.status}`);
    check((await api('POST', `/api/v1/admin/titles/${subbed.json.id}/publish`, adminToken)).status === 200, 'publish subtitled');
    await page.goto(`${BASE}/watch/${subbed.json.id}`);
    await page.waitForFunction(() => document.querySelector('video')?.currentTime > 0.5, null, { timeout: 30000 });
    const subsMenu = page.getByLabel('Subtitles');
    await subsMenu.selectOption({ label: 'English' });
    await page.waitForFunction(() => [...document.querySelector('video').textTracks]
      .some((t) => t.mode === 'showing' && t.activeCues && t.activeCues.length > 0), null, { timeout: 10000 });
    await shot(page, '15-player-subtitles');
    log('subtitles: the English track shows its cue');
    await subsMenu.selectOption({ label: 'Subtitles off' });

    // ---- 4. a refusal, with its reason ----
    await page.goto(`${BASE}/watch/${prem.json.id}`);
    await page.locator('.player[data-state="refused"][data-reason="not_subscribed"]').waitFor();
    const msg = await page.locator('.player-message').innerText();
    check(/not in your plan/i.test(msg) && msg.includes('not_subscribed'), `refusal message: ${msg}`);
    await shot(page, '16-player-refused');
    log('premium title refused with not_subscribed');

    // ---- ABR: a rendition switch when the bandwidth is throttled ----
    // The whole 30 s clip is buffered within seconds on loopback, so the throttle
    // (Chrome DevTools Protocol, ~400 kbit/s) is applied as the player page opens,
    // before playback starts: hls.js then switches rendition by itself, down from the
    // manifest's first one or, once the throttle is lifted, up.
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    const throttle = (bytesPerSecond) => cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: bytesPerSecond < 0 ? 0 : 40, downloadThroughput: bytesPerSecond, uploadThroughput: -1 });
    await page.goto(`${BASE}/watch/${titleId}?format=hls&start=0`);
    await page.locator('.player').waitFor();
    await throttle(50000);
    const switched = () => page.waitForFunction(() => Number(document.querySelector('.player')?.dataset.switches || 0) >= 1, null, { timeout: 30000 });
    let how = 'while throttled';
    try {
      await switched();
    } catch (e) {
      log(`ABR: no switch while throttled (${e.message.split('\n')[0]}); at ${page.url()}`);
      how = 'when the throttle was lifted';
      await throttle(-1);
      await switched();
    }
    await throttle(-1);
    log(`ABR: rendition switch ${how}; now ${await page.locator('.player').getAttribute('data-rendition')}`);
    await shot(page, '17-player-abr');
    await page.goto(`${BASE}/`);

    // ---- 5. users and roles, recommendations ----
    await admin.getByRole('link', { name: 'Users', exact: true }).click();
    await admin.getByRole('heading', { name: 'Users' }).waitFor();
    await admin.locator('tbody th', { hasText: ADMIN.email }).waitFor();
    await shot(admin, '19-admin-users');
    await admin.getByLabel('Search users by email').fill(VIEWER.email.toUpperCase());
    await admin.keyboard.press('Enter');
    const vrow = admin.locator('tbody tr', { has: admin.getByRole('rowheader', { name: VIEWER.email }) });
    await vrow.waitFor();
    check(await admin.locator('tbody tr').count() === 1, 'the search finds the viewer alone');
    check(new URL(admin.url()).searchParams.get('q') === VIEWER.email.toUpperCase(), 'the search is in the address bar');
    const roleSelect = admin.getByLabel(`Role of ${VIEWER.email}`, { exact: true });
    check(await roleSelect.inputValue() === 'viewer', 'the viewer is shown as a viewer');
    check((await vrow.locator('.badge').innerText()).trim() === 'Viewer', 'the role badge says Viewer');
    await shot(admin, '20-admin-users-search');
    // Make them an analyst through the confirmation dialog, by keyboard; then back.
    await roleSelect.selectOption('analyst');
    await admin.getByRole('button', { name: `Change the role of ${VIEWER.email}` }).click();
    const dialog = admin.getByRole('dialog', { name: `Make ${VIEWER.email} an analyst?` });
    await dialog.waitFor();
    await shot(admin, '21-admin-users-confirm');
    await admin.keyboard.press('Escape'); // cancelled: nothing changes
    // The dialog hides at once; its close event (which puts the select back) comes a task later.
    await admin.waitForFunction((label) => document.querySelector(`select[aria-label="${label}"]`)?.value === 'viewer' && !document.querySelector('dialog'),
      `Role of ${VIEWER.email}`, { timeout: 5000 }).catch(() => {});
    check(await roleSelect.inputValue() === 'viewer', 'a cancelled change puts the select back');
    check(await admin.evaluate(() => document.activeElement?.getAttribute('aria-label')) === `Role of ${VIEWER.email}`, 'focus goes back to the role after a cancel');
    await roleSelect.selectOption('analyst');
    await admin.getByRole('button', { name: `Change the role of ${VIEWER.email}` }).click();
    await dialog.getByRole('button', { name: 'Make analyst' }).click();
    await vrow.locator('.badge', { hasText: 'Analyst' }).waitFor();
    const me = await api('GET', '/api/v1/auth/me', await page.evaluate(() => JSON.parse(localStorage.getItem('kino.viewer.session')).token));
    check(me.json?.role === 'analyst', `the viewer's own session sees the new role at once (${me.json?.role})`);
    await admin.getByLabel('Filter by role').selectOption('analyst');
    await vrow.waitFor();
    await admin.getByLabel(`Role of ${VIEWER.email}`, { exact: true }).selectOption('viewer');
    await admin.getByRole('button', { name: `Change the role of ${VIEWER.email}` }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Make viewer' }).click();
    await vrow.locator('.badge', { hasText: 'Viewer' }).waitFor();
    log('users: the viewer found by email, made an analyst and a viewer again');
    await admin.getByRole('link', { name: 'Recommendations' }).click();
    await admin.getByRole('heading', { name: 'Recommendations' }).waitFor();
    const retrain = admin.getByRole('button', { name: 'Retrain now' });
    await retrain.waitFor();
    await admin.locator('.facts-grid, .state.empty').first().waitFor();
    check(!(await admin.getByText('Recommendations are not available on this server').count()),
      'the recommender routes are served');
    // ---- after retraining, the viewer's home rows change ----
    // A catalog worth recommending from: more titles in two genres, watched by simulated
    // viewers through the real paths (playback sessions, beacons to the collector).
    for (let i = 0; i < 10; i++) {
      const g = i % 2 ? 'Documentary' : 'Animation';
      const t = await api('POST', '/api/v1/admin/titles', adminToken, { title: `${g} Short ${i}`, tier: 'free', genres: [g], asset_id: env.KINO_ASSET_ID, year: 2020 + i });
      check(t.status === 201, `extra title ${i}: ${t.status}`);
      check((await api('POST', `/api/v1/admin/titles/${t.json.id}/publish`, adminToken)).status === 200, `publish extra title ${i}`);
    }
    const telemetryHttp = env.KINO_TELEMETRY_WS.replace(/^ws/, 'http').replace(/\/v1\/beacons$/, '');
    const sim = spawnSync('python3', [path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/simulate-viewers'), '--api', API,
      '--telemetry', telemetryHttp, '--viewers', '30', '--plays', '3-5', '--seed', '11'],
    { env: { ...env, KINO_ADMIN_TOKEN: adminToken }, encoding: 'utf8', timeout: 180000 });
    log(`simulated viewers: ${(sim.stdout || '').trim()} ${(sim.stderr || '').trim()}`);
    check(sim.status === 0, `scripts/simulate-viewers failed (${sim.status})`);
    const rowTitles = async () => {
      await page.goto(`${BASE}/`);
      await page.locator('section.row h2').first().waitFor();
      return page.locator('section.row h2').allInnerTexts();
    };
    const before = await rowTitles();
    log(`viewer's rows before retraining: ${before.join(' | ')}`);
    check(!before.includes('Top Picks for You'), 'no top picks before a model exists');
    await shot(page, '23-viewer-home-before-retraining');
    await retrain.click();
    let status;
    for (let i = 0; i < 240; i++) {
      status = await api('GET', '/api/v1/admin/recsys', adminToken);
      if (status.json?.training?.state !== 'running' && status.json?.training?.finished_at) break;
      await admin.waitForTimeout(500);
    }
    // the page follows the training by itself and lets the button go again
    await admin.waitForFunction(() => {
      const b = [...document.querySelectorAll('button')].find((x) => x.textContent.trim() === 'Retrain now');
      return b && !b.disabled;
    }, null, { timeout: 10000 });
    check(status.json?.model && status.json.training.state === 'idle', `a model after retraining: ${JSON.stringify(status.json)}`);
    log(`recommendations: trained on ${status.json.model.interactions} interactions in ${status.json.model.train_seconds.toFixed(2)} s`);
    await shot(admin, '22-admin-recommendations');
    const after = await rowTitles();
    log(`viewer's rows after retraining: ${after.join(' | ')}`);
    check(after.includes('Top Picks for You'), 'the viewer gets top picks after retraining');
    check(after.join('|') !== before.join('|'), 'the home rows change after retraining');
    await shot(page, '24-viewer-home-after-retraining');

    // ---- 6. analytics ----
    const an = await adminCtx.newPage();
    await an.goto(`${BASE}/analytics`);
    await an.getByLabel('Email').fill(ADMIN.email);
    await an.getByLabel('Password').fill(ADMIN.password);
    await an.getByRole('button', { name: 'Sign in' }).click();
    await an.getByText(/streams? now/).waitFor();
    if (env.KINO_REPORTS === '1' && env.KINO_BEACONS === '1') {
      // The plays of this run, with their watch time, from the beacons in MongoDB.
      let plays = 0, watch = '';
      for (let i = 0; i < 20 && !(plays >= 1 && parseFloat(watch) > 0); i++) {
        if (i) { await an.waitForTimeout(1000); await an.getByRole('button', { name: 'Apply' }).click(); }
        const tiles = an.locator('.kpi-tile');
        await tiles.first().waitFor({ timeout: 15000 });
        plays = Number((await an.locator('.kpi-tile[data-kpi="Plays"] .kpi-value').innerText()).replace(/\D/g, ''));
        watch = await an.locator('.kpi-tile[data-kpi="Watch time"] .kpi-value').innerText();
      }
      log(`analytics: ${plays} plays, watch time ${watch}`);
      check(plays >= 1 && parseFloat(watch) > 0, `the dashboard shows the plays (${plays}, ${watch})`);
      await an.getByRole('rowheader', { name: 'Big Buck Bunny', exact: true }).first().waitFor();
    } else if (env.KINO_REPORTS !== '1') {
      await an.getByText(/no reports API/).waitFor();
      log('analytics: no reports API on this server yet (the dashboard says so)');
    } else {
      await an.locator('.kpi-tile').first().waitFor();
      log('analytics: the reports render (no beacons in this run to count)');
    }
    await an.screenshot({ path: path.join(ART, '18-analytics.png'), fullPage: true });
    shots.push(path.join(ART, '18-analytics.png'));
    log(`screenshot ${path.join(ART, '18-analytics.png')} (full page)`);

    errors.push(...adminErrors, ...viewerErrors);
    check(errors.length === 0, `uncaught errors in the pages:\n${errors.join('\n')}`);
    log(`journey passed; ${shots.length} screenshots in ${ART}`);
  } finally {
    await browser.close();
    proxy?.close();
  }
}

main().catch((e) => {
  console.error(`journey FAILED: ${e.stack || e}`);
  console.error(`screenshots so far in ${ART}`);
  process.exit(1);
});
