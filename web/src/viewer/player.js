// The player page: starts a playback session (POST /api/v1/playback/{id}), plays its HLS
// URL with hls.js or its DASH URL with dash.js (a toggle, remembered), keeps the stream
// lease alive with heartbeats and stops the session on leave. Around the engines: custom
// accessible controls, a manual quality menu next to adaptive bitrate, seek-bar
// thumbnails from the trick-play VTT, subtitles from asset.json, and resume. The QoE
// beacons are the SDK's (../sdk/kino-qoe.js), attached to the video and the engine.
import { ApiError } from '../common/api.js';
import { clear, h, icon } from '../common/dom.js';
import { clock } from '../common/format.js';
import { resumePosition, saveProgress } from './progress.js';
import { attach as attachQoe } from '../sdk/kino-qoe.js';
import { cueAt, parseThumbnailVtt } from './thumbnails.js';

export const REFUSALS = {
  not_subscribed: {
    title: 'This title is not in your plan',
    text: 'Your plan does not include this title, or your subscription has ended. Upgrade your plan, or buy or rent the title, to watch it.',
  },
  rental_expired: {
    title: 'Your rental has expired',
    text: 'The rental period for this title is over. Rent it again to keep watching.',
  },
  too_many_streams: {
    title: 'Too many screens at once',
    text: 'Every stream of your plan is in use on another screen. Stop playback there, or wait about a minute for it to end, then try again.',
  },
  not_available: {
    title: 'Not available right now',
    text: 'This title cannot be watched at the moment: it is not released yet, or it has left the catalog.',
  },
  media_unavailable: {
    title: 'Temporarily unavailable',
    text: 'The video of this title cannot be read right now. Please try again in a few minutes.',
  },
};

const FORMAT_KEY = 'kino.viewer.format';
const SUBS_KEY = 'kino.viewer.subtitles';

// Where the collector is: the playback answer's beacon_url when the API gives one, a
// deployment's override in localStorage, else the telemetry.listen default of `kino up`
// (port 8081 of the same host).
export function telemetryUrl(playback) {
  if (playback?.beacon_url) return new URL(playback.beacon_url, location.href).href.replace(/^http/, 'ws');
  const saved = localStorage.getItem('kino.telemetry.url');
  if (saved) return saved;
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.hostname}:8081/v1/beacons`;
}

export function preferredFormat() {
  return localStorage.getItem(FORMAT_KEY) === 'dash' ? 'dash' : 'hls';
}

function kbps(bps) {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbps` : `${Math.round(bps / 1e3)} kbps`;
}

export class Player {
  // api, session: the viewer's; title: the title document; navigate: the router's.
  constructor({ api, session, title, format, navigate }) {
    Object.assign(this, { api, session, title, navigate });
    this.format = format || preferredFormat();
    this.levels = [];
    this.switches = 0;
    this.timers = [];
    this.destroyed = false;
    this.build();
  }

  // ---- the DOM ----
  build() {
    const v = (this.video = h('video', {
      class: 'player-video', playsinline: true, preload: 'auto', crossorigin: 'anonymous',
      'aria-label': `Video: ${this.title.title}`,
    }));
    this.bigPlay = h('button', { class: 'big-play', type: 'button', 'aria-label': 'Play', onclick: () => this.toggle() }, icon('play'));
    this.spinner = h('div', { class: 'spinner big', role: 'status', 'aria-label': 'Buffering' });
    this.message = h('div', { class: 'player-message', hidden: true });
    this.note = h('div', { class: 'player-note', role: 'status', 'aria-live': 'polite' });

    this.formatButtons = ['hls', 'dash'].map((f) => h('button', {
      type: 'button', class: 'seg-btn', 'aria-pressed': String(f === this.format), dataset: { format: f },
      onclick: () => this.switchFormat(f),
    }, f.toUpperCase()));
    const top = h('div', { class: 'player-top' },
      h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Back to the title', onclick: () => this.navigate(`/title/${this.title.id}`) }, icon('back')),
      h('h1', { class: 'player-title' }, this.title.title),
      h('div', { class: 'seg', role: 'group', 'aria-label': 'Streaming format' }, this.formatButtons));

    this.seek = h('input', {
      class: 'seek-bar', type: 'range', min: '0', max: '0', step: '0.1', value: '0', 'aria-label': 'Seek',
    });
    this.previewImg = h('div', { class: 'preview-img' });
    this.previewTime = h('div', { class: 'preview-time' });
    this.preview = h('div', { class: 'seek-preview', hidden: true, 'aria-hidden': 'true' }, this.previewImg, this.previewTime);
    this.playBtn = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Play', onclick: () => this.toggle() }, icon('play'));
    this.muteBtn = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Mute', onclick: () => { v.muted = !v.muted; } }, icon('volume'));
    this.volume = h('input', { class: 'volume', type: 'range', min: '0', max: '1', step: '0.05', value: '1', 'aria-label': 'Volume' });
    this.time = h('span', { class: 'time', 'aria-live': 'off' }, '0:00 / 0:00');
    this.quality = h('select', { class: 'menu', 'aria-label': 'Quality', hidden: true }, h('option', { value: '-1' }, 'Auto'));
    this.subs = h('select', { class: 'menu', 'aria-label': 'Subtitles', hidden: true }, h('option', { value: '' }, 'Subtitles off'));
    this.rendition = h('span', { class: 'rendition', 'aria-live': 'polite' });
    this.fsBtn = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Full screen', onclick: () => this.fullscreen() }, icon('fullscreen'));
    const controls = h('div', { class: 'player-controls' },
      h('div', { class: 'seek-wrap' }, this.seek, this.preview),
      h('div', { class: 'controls-row' }, this.playBtn, this.muteBtn, this.volume, this.time,
        h('span', { class: 'grow' }), this.rendition, this.subs, this.quality, this.fsBtn));

    this.root = h('div', {
      class: 'player', tabindex: '-1', dataset: { state: 'loading', engine: this.format },
      role: 'region', 'aria-label': 'Video player',
    }, v, top, this.bigPlay, this.spinner, this.message, this.note, controls);

    // Controls follow the video.
    const sync = () => this.syncControls();
    ['play', 'pause', 'timeupdate', 'durationchange', 'volumechange', 'loadedmetadata'].forEach((e) => v.addEventListener(e, sync));
    v.addEventListener('waiting', () => this.root.classList.add('buffering'));
    v.addEventListener('playing', () => { this.root.classList.remove('buffering'); this.setState('playing'); });
    v.addEventListener('pause', () => { if (this.root.dataset.state === 'playing') this.setState('paused'); this.saveProgress(); });
    v.addEventListener('ended', () => { this.setState('ended'); this.saveProgress(); });
    v.addEventListener('click', () => this.toggle());
    v.addEventListener('timeupdate', () => {
      if (Math.abs(v.currentTime - (this.lastSaved || 0)) >= 5) this.saveProgress();
    });

    this.seek.addEventListener('input', () => {
      this.seeking = true;
      this.showPreview(Number(this.seek.value));
    });
    this.seek.addEventListener('change', () => {
      v.currentTime = Number(this.seek.value);
      this.seeking = false;
      this.preview.hidden = true;
    });
    this.seek.addEventListener('mousemove', (e) => {
      const r = this.seek.getBoundingClientRect();
      const t = Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)) * (v.duration || 0);
      this.showPreview(t);
    });
    this.seek.addEventListener('mouseleave', () => { if (!this.seeking) this.preview.hidden = true; });
    this.seek.addEventListener('blur', () => { this.preview.hidden = true; });
    this.volume.addEventListener('input', () => { v.volume = Number(this.volume.value); v.muted = v.volume === 0; });
    this.quality.addEventListener('change', () => this.engine?.setQuality(Number(this.quality.value)));
    this.subs.addEventListener('change', () => this.setSubtitles(this.subs.value));

    // Controls fade while playing and come back on any activity.
    const wake = () => {
      this.root.classList.remove('idle');
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => { if (!v.paused) this.root.classList.add('idle'); }, 3000);
    };
    ['mousemove', 'keydown', 'focusin', 'touchstart'].forEach((e) => this.root.addEventListener(e, wake));
    this.onKey = (e) => this.key(e);
    document.addEventListener('keydown', this.onKey);
    this.onPageHide = () => this.stopSession(true); // the QoE SDK ends its session by itself
    window.addEventListener('pagehide', this.onPageHide);
  }

  setState(s) { this.root.dataset.state = s; }

  // ---- QoE beacons: the SDK reports the video and the engine; the page adds what only
  // it knows (the session, the collector, when it gives up on an error) ----
  startQoe(s) {
    const duration = this.meta?.duration || this.title.duration;
    this.qoe = attachQoe(this.video, {
      url: telemetryUrl(s),
      sessionId: s.session_id,
      token: new URL(s.hls_url, location.href).pathname.split('/')[2],
      titleId: this.title.id,
      assetId: s.asset_id,
      viewerId: this.session.user?.id,
      durationMs: duration ? duration * 1000 : undefined,
      player: { name: 'kino-web', version: `0.1.0 ${this.format === 'dash' ? 'dash.js' : 'hls.js'}` },
      requestedAt: this.requestedAt,
      // The page recovers some errors the engines call fatal (a media error, once), so
      // it reports those itself: fail() when playback is really lost.
      fatalErrors: 'app',
    });
  }

  syncControls() {
    const v = this.video;
    const d = Number.isFinite(v.duration) ? v.duration : this.meta?.duration || 0;
    this.seek.max = String(d);
    if (!this.seeking) this.seek.value = String(v.currentTime);
    this.seek.setAttribute('aria-valuetext', `${clock(v.currentTime)} of ${clock(d)}`);
    const pct = d ? (v.currentTime / d) * 100 : 0;
    this.seek.style.setProperty('--progress', `${pct}%`);
    this.time.textContent = `${clock(v.currentTime)} / ${clock(d)}`;
    const label = v.paused ? 'Play' : 'Pause';
    if (this.playBtn.dataset.icon !== label) {
      clear(this.playBtn, icon(v.paused ? 'play' : 'pause'));
      this.playBtn.dataset.icon = label;
    }
    this.playBtn.setAttribute('aria-label', label);
    this.bigPlay.hidden = !v.paused || this.root.dataset.state === 'error' || this.root.dataset.state === 'refused';
    const muted = v.muted || v.volume === 0;
    if (this.muteBtn.dataset.muted !== String(muted)) {
      clear(this.muteBtn, icon(muted ? 'mute' : 'volume'));
      this.muteBtn.dataset.muted = String(muted);
    }
    this.muteBtn.setAttribute('aria-label', v.muted ? 'Unmute' : 'Mute');
    this.volume.value = String(v.muted ? 0 : v.volume);
  }

  showPreview(t) {
    const d = this.video.duration || this.meta?.duration || 0;
    if (!d) return;
    const cue = this.thumbs ? cueAt(this.thumbs, t) : null;
    this.previewTime.textContent = clock(t);
    if (cue) {
      Object.assign(this.previewImg.style, {
        width: `${cue.w}px`, height: `${cue.h}px`,
        backgroundImage: `url("${cue.url}")`, backgroundPosition: `-${cue.x}px -${cue.y}px`,
      });
      this.previewImg.hidden = false;
    } else {
      this.previewImg.hidden = true;
    }
    this.preview.style.left = `${(t / d) * 100}%`;
    this.preview.hidden = false;
  }

  toggle() {
    const v = this.video;
    if (this.root.dataset.state === 'error' || this.root.dataset.state === 'refused') return;
    if (v.paused) v.play().catch(() => {});
    else v.pause();
  }

  fullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else this.root.requestFullscreen?.().catch(() => {});
  }

  key(e) {
    if (this.destroyed || e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = e.target.tagName;
    const inControl = tag === 'SELECT' || tag === 'TEXTAREA' || (tag === 'INPUT' && e.target.type !== 'range');
    if (inControl) return;
    const v = this.video;
    const onRange = tag === 'INPUT';
    switch (e.key) {
      case ' ': case 'k':
        if (tag === 'BUTTON' && e.key === ' ') return;
        e.preventDefault(); this.toggle(); break;
      case 'ArrowLeft': case 'j':
        if (onRange) return;
        e.preventDefault(); v.currentTime = Math.max(0, v.currentTime - (e.key === 'j' ? 10 : 5)); break;
      case 'ArrowRight': case 'l':
        if (onRange) return;
        e.preventDefault(); v.currentTime = Math.min(v.duration || 0, v.currentTime + (e.key === 'l' ? 10 : 5)); break;
      case 'ArrowUp':
        if (onRange) return;
        e.preventDefault(); v.volume = Math.min(1, v.volume + 0.1); v.muted = false; break;
      case 'ArrowDown':
        if (onRange) return;
        e.preventDefault(); v.volume = Math.max(0, v.volume - 0.1); break;
      case 'm': v.muted = !v.muted; break;
      case 'f': this.fullscreen(); break;
      case 'c': {
        const tracks = [...this.subs.options].map((o) => o.value);
        const next = tracks[(tracks.indexOf(this.subs.value) + 1) % tracks.length];
        this.subs.value = next; this.setSubtitles(next); break;
      }
      default: return;
    }
    this.root.classList.remove('idle');
  }

  // ---- the session ----
  async start() {
    this.setState('loading');
    this.requestedAt = Date.now();
    let s;
    try {
      s = await this.api.post(`/api/v1/playback/${this.title.id}`);
    } catch (e) {
      if (this.destroyed) return;
      if (e instanceof ApiError && REFUSALS[e.code]) return this.refuse(e);
      return this.fail(e.message || 'Playback could not start.', e.code);
    }
    if (this.destroyed) {
      this.sessionId = s.session_id;
      this.stopSession();
      return;
    }
    this.playback = s;
    this.sessionId = s.session_id;
    const period = Math.max(5, (s.lease_ttl_s || 60) / 3) * 1000;
    this.timers.push(setInterval(() => this.heartbeat(), period));
    this.base = new URL(s.hls_url.replace(/[^/]*$/, ''), location.href).href;
    await this.loadAssetInfo();
    if (this.destroyed) return;
    this.startQoe(s);
    const resumeAt = resumePosition(this.session.user?.id, this.title.id);
    if (resumeAt) this.showResumeNote(resumeAt);
    await this.attach(resumeAt);
  }

  async loadAssetInfo() {
    try {
      const r = await fetch(this.base + 'asset.json');
      this.meta = r.ok ? await r.json() : null;
    } catch { this.meta = null; }
    const m = this.meta;
    if (!m) return;
    if (m.poster) this.video.poster = this.base + m.poster;
    for (const s of m.subtitles || []) {
      const label = s.name && s.name !== s.lang ? s.name : languageName(s.lang);
      this.video.append(h('track', { kind: 'subtitles', src: this.base + s.vtt, srclang: s.lang, label }));
      this.subs.append(h('option', { value: s.lang }, label));
    }
    this.subs.hidden = !(m.subtitles || []).length;
    const saved = localStorage.getItem(SUBS_KEY);
    if (saved && [...this.subs.options].some((o) => o.value === saved)) {
      this.subs.value = saved;
      this.setSubtitles(saved);
    }
    if (m.thumbnails) {
      fetch(this.base + m.thumbnails).then((r) => (r.ok ? r.text() : ''))
        .then((t) => { this.thumbs = parseThumbnailVtt(t, this.base + m.thumbnails); })
        .catch(() => {});
    }
  }

  setSubtitles(lang) {
    for (const t of this.video.textTracks) t.mode = t.language === lang && lang ? 'showing' : 'disabled';
    localStorage.setItem(SUBS_KEY, lang);
  }

  showResumeNote(at) {
    clear(this.note, `Resuming from ${clock(at)}. `,
      h('button', { type: 'button', class: 'link-btn', onclick: () => { this.video.currentTime = 0; clear(this.note); } }, 'Start over'));
    this.timers.push(setTimeout(() => clear(this.note), 8000));
  }

  async heartbeat() {
    if (!this.sessionId || this.destroyed) return;
    try {
      await this.api.post(`/api/v1/playback/${this.sessionId}/heartbeat`);
    } catch (e) {
      if (this.destroyed || !(e instanceof ApiError) || (e.status !== 410 && e.status !== 404)) return;
      // The lease lapsed (a long sleep, a lost network): take a new session; the media
      // token of the old one stays valid until it expires.
      try {
        const s = await this.api.post(`/api/v1/playback/${this.title.id}`);
        this.sessionId = s.session_id;
      } catch (e2) {
        this.video.pause();
        if (e2 instanceof ApiError && REFUSALS[e2.code]) this.refuse(e2);
      }
    }
  }

  stopSession(leaving = false) {
    const id = this.sessionId;
    this.sessionId = null;
    if (!id) return;
    // keepalive lets the stop outlive the page on unload.
    this.api.post(`/api/v1/playback/${id}/stop`, undefined, { keepalive: leaving }).catch(() => {});
  }

  saveProgress() {
    const v = this.video;
    const d = Number.isFinite(v.duration) ? v.duration : this.meta?.duration;
    if (!d || v.currentTime < 1) return;
    this.lastSaved = v.currentTime;
    saveProgress(this.session.user?.id, this.title.id, v.ended ? d : v.currentTime, d);
  }

  // ---- the engines ----
  async attach(startAt) {
    this.setState('loading');
    this.root.dataset.engine = this.format;
    this.formatButtons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.format === this.format)));
    try {
      this.engine = this.format === 'dash' ? await this.attachDash(startAt) : await this.attachHls(startAt);
    } catch (e) {
      return this.fail(e.message || String(e));
    }
    if (this.destroyed) { this.engine?.destroy(); return; }
    this.video.play().catch(() => this.setState('paused'));
  }

  async attachHls(startAt) {
    const { default: Hls } = await import('hls.js');
    const url = new URL(this.playback.hls_url, location.href).href;
    const v = this.video;
    if (!Hls.isSupported()) {
      if (!v.canPlayType('application/vnd.apple.mpegurl')) throw new Error('This browser cannot play HLS: try DASH.');
      v.src = url; // Safari's own HLS: adaptive, no manual quality
      if (startAt) v.addEventListener('loadedmetadata', () => { v.currentTime = startAt; }, { once: true });
      this.setLevels([]);
      return { setQuality() {}, destroy() { v.removeAttribute('src'); v.load(); } };
    }
    const hls = new Hls({ startPosition: startAt || -1, enableWebVTT: false, enableCEA708Captions: false });
    let recovered = false;
    hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
      this.setLevels(d.levels.map((l, i) => ({ index: i, height: l.height, width: l.width, bitrate: l.bitrate })));
      // The rendition loading starts with: a switch away from it, even before its first
      // segment has played, counts.
      const first = d.levels[d.firstLevel ?? 0];
      if (first) this.current = { height: first.height, bitrate: first.bitrate };
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => {
      const l = hls.levels[d.level];
      if (l) this.onRendition({ height: l.height, bitrate: l.bitrate });
    });
    hls.on(Hls.Events.ERROR, (_, d) => {
      if (!d.fatal) return;
      if (d.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
        recovered = true;
        this.qoe?.error(d.details, { fatal: false }); // survived: not a playback failure
        hls.recoverMediaError();
        return;
      }
      const status = d.response?.code;
      this.fail(status === 403
        ? 'The playback link has expired. Reload the page to start again.'
        : `The stream could not be played (${d.details}).`, d.details);
    });
    this.qoe?.attachPlayer({ hls });
    hls.loadSource(url);
    hls.attachMedia(v);
    return {
      setQuality: (i) => { hls.currentLevel = i; this.announceQuality(i); },
      destroy: () => { this.qoe?.detachPlayer(); hls.destroy(); },
    };
  }

  async attachDash(startAt) {
    const dashjs = await import('dashjs');
    const p = dashjs.MediaPlayer().create();
    p.updateSettings({
      debug: { logLevel: 2 /* warnings */ },
      streaming: {
        text: { defaultEnabled: false }, // subtitles come from asset.json's tracks
        abr: { autoSwitchBitrate: { video: true } },
      },
    });
    p.on('streamInitialized', () => {
      const reps = p.getRepresentationsByType('video') || [];
      this.setLevels(reps.map((r, i) => ({ index: i, height: r.height, width: r.width, bitrate: r.bandwidth })));
      if (startAt) p.seek(startAt);
    });
    p.on('qualityChangeRendered', (e) => {
      if (e.mediaType === 'video' && e.newRepresentation) {
        this.onRendition({ height: e.newRepresentation.height, bitrate: e.newRepresentation.bandwidth });
      }
    });
    p.on('error', (e) => {
      const err = e.error || {};
      this.fail(`The stream could not be played (${err.message || err.code || 'DASH error'}).`, 'dash');
    });
    const mpd = new URL(this.playback.dash_url, location.href).href;
    // A protected asset (docs/protection.md): ClearKey licences from the asset's key
    // route, resolved against the MPD (dash.js would resolve dashif:Laurl against the page).
    if (this.meta?.protection) p.setProtectionData({ 'org.w3.clearkey': { serverURL: new URL('key/clearkey', mpd).href } });
    this.qoe?.attachPlayer({ dash: p });
    p.initialize(this.video, mpd, false);
    return {
      setQuality: (i) => {
        p.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: i < 0 } } } });
        if (i >= 0) p.setRepresentationForTypeByIndex('video', i, true);
        this.announceQuality(i);
      },
      destroy: () => { this.qoe?.detachPlayer(); p.destroy(); },
    };
  }

  setLevels(levels) {
    this.levels = levels;
    const opts = [...levels].sort((a, b) => b.height - a.height || b.bitrate - a.bitrate)
      .map((l) => h('option', { value: String(l.index) }, `${l.height}p · ${kbps(l.bitrate)}`));
    clear(this.quality, h('option', { value: '-1' }, 'Auto'), opts);
    this.quality.hidden = levels.length < 2;
  }

  onRendition(r) {
    if (this.current && (this.current.height !== r.height || this.current.bitrate !== r.bitrate)) this.switches++;
    this.current = r;
    this.root.dataset.rendition = `${r.height}p`;
    this.root.dataset.switches = String(this.switches);
    this.rendition.textContent = `${r.height}p`;
    const auto = this.quality.value === '-1';
    this.quality.options[0].textContent = auto ? `Auto (${r.height}p)` : 'Auto';
  }

  announceQuality(i) {
    const l = this.levels.find((x) => x.index === i);
    clear(this.note, l ? `Quality set to ${l.height}p` : 'Quality set to automatic');
    this.timers.push(setTimeout(() => clear(this.note), 3000));
  }

  async switchFormat(f) {
    if (f === this.format || !this.playback) return;
    const at = this.video.currentTime;
    const wasPlaying = !this.video.paused;
    localStorage.setItem(FORMAT_KEY, f);
    this.format = f;
    this.engine?.destroy();
    this.engine = null;
    this.current = null;
    this.video.removeAttribute('src');
    this.video.load();
    await this.attach(at);
    if (!wasPlaying) this.video.pause();
  }

  // ---- the bad endings ----
  refuse(e) {
    const r = REFUSALS[e.code];
    this.setState('refused');
    this.root.dataset.reason = e.code;
    this.message.hidden = false;
    this.message.setAttribute('role', 'alert');
    clear(this.message,
      h('h2', {}, r.title),
      h('p', {}, r.text),
      e.message ? h('p', { class: 'reason' }, `Reason: ${e.code} — ${e.message}`) : null,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn primary', onclick: () => this.navigate(`/title/${this.title.id}`) }, 'Back to the title'),
        e.code === 'too_many_streams' ? h('button', { type: 'button', class: 'btn', onclick: () => this.retry() }, 'Try again') : null));
    this.syncControls();
    this.message.querySelector('button')?.focus();
  }

  fail(text, code) {
    if (this.destroyed || this.root.dataset.state === 'refused') return;
    this.qoe?.error(code || 'playback_error', { fatal: true });
    this.setState('error');
    this.root.dataset.reason = code || 'error';
    this.message.hidden = false;
    this.message.setAttribute('role', 'alert');
    clear(this.message, h('h2', {}, 'Playback stopped'), h('p', {}, text),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn primary', onclick: () => this.retry() }, 'Try again'),
        h('button', { type: 'button', class: 'btn', onclick: () => this.navigate(`/title/${this.title.id}`) }, 'Back')));
    this.syncControls();
  }

  async retry() {
    this.message.hidden = true;
    this.engine?.destroy();
    this.engine = null;
    this.timers.forEach((t) => clearInterval(t));
    this.timers = [];
    this.qoe?.detach();
    this.qoe = null;
    this.stopSession();
    await this.start();
  }

  destroy() {
    this.destroyed = true;
    this.saveProgress();
    this.timers.forEach((t) => { clearInterval(t); clearTimeout(t); });
    clearTimeout(this.idleTimer);
    document.removeEventListener('keydown', this.onKey);
    window.removeEventListener('pagehide', this.onPageHide);
    this.engine?.destroy();
    this.qoe?.detach();
    this.stopSession();
  }
}

function languageName(code) {
  try { return new Intl.DisplayNames([navigator.language || 'en'], { type: 'language' }).of(code) || code; } catch { return code; }
}
