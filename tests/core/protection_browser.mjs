// The browser half of core_protection_browser (test_protection_browser.c starts FerretDB,
// the key service and the origin, ingests a protected clip and passes its URLs in KINO_*
// variables). playwright-core drives Debian's chromium, headless, on a page that
// playwright serves as http://127.0.0.1:<port>/__page/ (the media server's origin: a
// secure context, so EME and WebCrypto exist, and no cross-origin loopback request that
// Chromium's local-network checks would block; CORS is checked by core_protection):
//   1. DASH with dash.js through EME org.w3.clearkey: the CDM's licence request goes to
//      the MPD's dashif:Laurl resolved against the MPD URL; the video plays 3 s of
//      decrypted frames with no error;
//   2. HLS with hls.js and AES-128: the key comes from the playlist's EXT-X-KEY URI; the
//      video plays 3 s with no error;
//   3. after KINO_STOP_URL ends the session (the driver stops it on request), a new
//      DASH player gets no licence and reports a key error.
// Exit 0 on success.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = path.resolve(here, '../../web');
const require = createRequire(path.join(webDir, 'package.json'));
const { chromium } = require('playwright-core');

const env = process.env;
const MPD = env.KINO_MPD;
const HLS = env.KINO_HLS;
const ORIGIN = new URL(MPD).origin;
const PAGE = `${ORIGIN}/__page/protect.html`;
const dashjs = readFileSync(path.join(webDir, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'));
const hlsjs = readFileSync(path.join(webDir, 'node_modules/hls.js/dist/hls.min.js'));

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
function check(cond, msg) { if (!cond) throw new Error(`check failed: ${msg}`); }

const html = `<!doctype html><html><body>
<video id="v" muted playsinline width="428" height="240"></video>
<script src="/__page/dash.js"></script><script src="/__page/hls.js"></script>
<script>
window.errors = [];
window.playDash = (mpd) => {
  const v = document.getElementById('v');
  const p = dashjs.MediaPlayer().create();
  // dash.js takes dashif:Laurl as it is written, and the MPD's is relative (it must carry
  // the playback token), so the app resolves it against the MPD's URL, as a player should.
  p.setProtectionData({ 'org.w3.clearkey': { serverURL: new URL('key/clearkey', mpd).href } });
  p.on(dashjs.MediaPlayer.events.ERROR, (e) => window.errors.push('dash: ' + JSON.stringify(e.error || e)));
  p.initialize(v, mpd, true);
  window.player = p;
};
window.playHls = (url) => {
  const v = document.getElementById('v');
  const h = new Hls({ enableWorker: false });
  h.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.errors.push('hls: ' + d.details); });
  h.loadSource(url);
  h.attachMedia(v);
  v.play().catch((e) => window.errors.push('play: ' + e));
  window.player = h;
};
</script></body></html>`;

async function newPage(browser) {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') log('console:', m.text()); });
  await page.route(`${ORIGIN}/__page/**`, (route) => {
    const u = new URL(route.request().url());
    if (u.pathname === '/__page/protect.html') return route.fulfill({ contentType: 'text/html', body: html });
    if (u.pathname === '/__page/dash.js') return route.fulfill({ contentType: 'text/javascript', body: dashjs });
    if (u.pathname === '/__page/hls.js') return route.fulfill({ contentType: 'text/javascript', body: hlsjs });
    return route.fulfill({ status: 404, body: '' });
  });
  await page.goto(PAGE);
  return page;
}

// Waits until the video has played `secs` of decoded frames, or fails with the errors.
async function played(page, secs, what) {
  const deadline = Date.now() + 45000;
  for (;;) {
    const s = await page.evaluate(() => {
      const v = document.getElementById('v');
      const q = v.getVideoPlaybackQuality();
      return { t: v.currentTime, frames: q.totalVideoFrames, err: window.errors.slice(),
               mediaErr: v.error ? v.error.code + ' ' + v.error.message : null };
    });
    check(s.err.length === 0 && !s.mediaErr, `${what}: ${s.err.join('; ')} ${s.mediaErr || ''}`);
    if (s.t >= secs && s.frames >= 24) { // 1 s of 24 fps at least
      log(`${what}: ${s.t.toFixed(2)} s played, ${s.frames} frames decoded`);
      return;
    }
    check(Date.now() < deadline, `${what}: only ${s.t} s after 45 s`);
    await page.waitForTimeout(250);
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
});
let ok = false;
try {
  // 1. DASH + EME ClearKey.
  let page = await newPage(browser);
  const licences = [];
  page.on('response', (r) => { if (r.url().includes('/key/clearkey') && r.request().method() === 'POST') licences.push(r.status()); });
  check(await page.evaluate(() => !!navigator.requestMediaKeySystemAccess), 'EME is not available');
  await page.evaluate((mpd) => window.playDash(mpd), MPD);
  await played(page, 3, 'DASH ClearKey');
  check(licences.length >= 1 && licences.every((s) => s === 200), `licence answers ${licences}`);
  log(`licence requests: ${licences.length} (${licences.join(',')})`);
  await page.close();

  // 2. HLS + AES-128.
  page = await newPage(browser);
  const keys = [];
  page.on('response', (r) => { if (r.url().includes('/key/aes128')) keys.push(r.status()); });
  await page.evaluate((url) => window.playHls(url), HLS);
  await played(page, 3, 'HLS AES-128');
  check(keys.length >= 1 && keys.every((s) => s === 200), `key answers ${keys}`);
  log(`AES-128 key requests: ${keys.length}`);
  await page.close();

  // 3. The session ends: no more licences.
  // A body: http_server.c's on_body crashes on a POST with Content-Length: 0 (reported).
  const stop = await fetch(env.KINO_STOP_URL, { method: 'POST', body: '{}' });
  check(stop.status === 204, `stop: ${stop.status}`);
  page = await newPage(browser);
  const refused = [];
  page.on('response', (r) => { if (r.url().includes('/key/clearkey') && r.request().method() === 'POST') refused.push(r.status()); });
  await page.evaluate((mpd) => window.playDash(mpd), MPD);
  const deadline = Date.now() + 30000;
  let s;
  do {
    await page.waitForTimeout(250);
    s = await page.evaluate(() => ({
      frames: document.getElementById('v').getVideoPlaybackQuality().totalVideoFrames,
      err: window.errors.slice() }));
  } while (s.err.length === 0 && Date.now() < deadline);
  check(refused.includes(403), `licence answers after stop: ${refused}`);
  // (currentTime may still move: dash.js seeks to the start of what is buffered.)
  check(s.err.length > 0 && s.frames === 0, `${s.frames} frames decoded without a licence`);
  log(`after stop: licence ${refused.join(',')}, player error: ${s.err[0].slice(0, 120)}`);
  ok = true;
} catch (e) {
  console.error(e.stack || String(e));
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
