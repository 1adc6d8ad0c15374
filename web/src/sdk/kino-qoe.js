// The Kino QoE SDK: tells Kino's telemetry collector how playback goes, as beacons of
// schema v1 (docs/telemetry.md), from a <video> element and, when given, the events of
// hls.js, dash.js or Shaka Player. Standalone: no import of any player, no dependency;
// built on its own as dist/assets/kino-qoe.js for third-party pages, and used by
// Kino's own player (web/src/viewer/player.js).
//
//   import { attach } from '/assets/kino-qoe.js';
//   const qoe = attach(video, { url, sessionId, token, titleId, assetId, hls });
//   ...
//   qoe.detach(); // session_end; pagehide does it by itself
//
// What it reports (docs/telemetry.md, "Player SDK"): session_start on attach; playing
// at the first frame (startup_ms from the play request); heartbeat every heartbeatMs
// after it; rendition_change; rebuffer_start/rebuffer_end for stalls after the first
// frame, except while seeking (from 'seeking' until playback goes on: seek-induced
// stalls are part of the seek, as Mux counts them); seek; pause; resume; error;
// ended; session_end. Delivery (acks, reconnects, offline buffer, sendBeacon on
// unload) is transport.js's.
import { BeaconTransport } from './transport.js';
import { dashAdapter } from './adapters/dash.js';
import { hlsAdapter } from './adapters/hls.js';
import { shakaAdapter } from './adapters/shaka.js';

export const VERSION = '1.0.0';
const HAVE_FUTURE_DATA = 3;

// A short device label from the user agent: web-<desktop|mobile|tablet>-<browser>.
export function deviceName(ua = globalThis.navigator?.userAgent || '') {
  const kind = /iPad|Tablet/.test(ua) ? 'tablet' : /Mobi|Android/.test(ua) ? 'mobile' : 'desktop';
  const browser = /Edg\//.test(ua) ? 'edge' : /Chrom(e|ium)\//.test(ua) ? 'chrome' : /Firefox\//.test(ua) ? 'firefox' : /Safari\//.test(ua) ? 'safari' : 'browser';
  return `web-${kind}-${browser}`;
}

const ms = (s) => Math.max(0, Math.round((Number.isFinite(s) ? s : 0) * 1000));

export class KinoQoe {
  // video: the <video> element (or anything with its properties and events).
  // options: see attach() below.
  constructor(video, options) {
    const o = options || {};
    for (const k of ['url', 'sessionId', 'token', 'titleId', 'assetId']) {
      if (!o[k]) throw new TypeError(`kino-qoe: option ${k} is required`);
    }
    this.video = video;
    this.options = o;
    this.hooks = o.hooks || {};
    this.heartbeatMs = o.heartbeatMs ?? 10000;
    this.requestedAt = o.requestedAt ?? Date.now();
    this.state = { firstFrame: false, stalled: false, inSeek: false, paused: false, ended: false, lastPlayhead: 0 };
    this.current = null; // the rendition in force: {bitrate, width, height}
    this.adapter = null;
    this.detached = false;
    this.transport = new BeaconTransport({
      url: o.url, beaconUrl: o.beaconUrl, sessionId: o.sessionId, maxPending: o.maxPending,
      maxInFlight: o.maxInFlight, backoff: o.backoff, ackTimeoutMs: o.ackTimeoutMs, maxBeaconBytes: o.maxBeaconBytes,
      WebSocket: o.WebSocket, sendBeacon: o.sendBeacon, hooks: this.hooks,
    });
    this.listen();
    if (o.hls) this.attachPlayer({ hls: o.hls });
    else if (o.dash) this.attachPlayer({ dash: o.dash });
    else if (o.shaka) this.attachPlayer({ shaka: o.shaka });
    this.emit('session_start', {
      title_id: o.titleId, asset_id: o.assetId, token: o.token,
      device: (o.device || deviceName()).slice(0, 63),
      player: o.player || { name: 'kino-qoe', version: `${VERSION}${this.adapter ? ` ${this.adapter.name}` : ''}` },
      duration_ms: o.durationMs ? Math.round(o.durationMs) : undefined,
      viewer_id: o.viewerId || undefined,
    });
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
  }

  // ---- the player engine: one at a time, replaceable within a session ----

  // { hls } | { dash } | { shaka }: listens to that player's events until
  // detachPlayer() (or the next attachPlayer()).
  attachPlayer(p) {
    this.detachPlayer();
    const make = p.hls ? hlsAdapter : p.dash ? dashAdapter : p.shaka ? shakaAdapter : null;
    if (!make) throw new TypeError('kino-qoe: attachPlayer takes { hls }, { dash } or { shaka }');
    this.adapter = make(p.hls || p.dash || p.shaka, this);
  }

  detachPlayer() {
    this.adapter?.detach();
    this.adapter = null;
  }

  // ---- what adapters and the page call ----

  // The rendition in force changed (or became known).
  rendition(r) {
    if (!r || !Number.isFinite(r.bitrate) || r.bitrate <= 0) return;
    const before = this.current;
    this.current = { bitrate: Math.round(r.bitrate), width: r.width || undefined, height: r.height || undefined };
    if (before && before.bitrate === this.current.bitrate && before.height === this.current.height) return;
    this.emit('rendition_change', { ...this.current, playhead_ms: ms(this.video.currentTime) });
  }

  // The player stalls (true) or goes on (false): a rebuffer unless it is part of a seek
  // or before the first frame.
  stall(on) {
    const s = this.state;
    if (on) {
      if (!s.firstFrame || s.stalled || s.inSeek || this.video.seeking || s.ended) return;
      s.stalled = true;
      this.emit('rebuffer_start', { playhead_ms: ms(this.video.currentTime) });
    } else if (s.stalled) {
      s.stalled = false;
      this.emit('rebuffer_end', { playhead_ms: ms(this.video.currentTime) });
    }
  }

  // An error the player reported. With fatalErrors: 'app' the page owns the errors the
  // player calls fatal (it may recover them): it reports them itself with error(), so
  // they are not reported here twice.
  playerError(code, fatal) {
    if (fatal && this.options.fatalErrors === 'app') return;
    this.error(code, { fatal });
  }

  error(code, { fatal = false } = {}) {
    this.emit('error', { code: String(code || 'error').slice(0, 63), fatal: !!fatal, playhead_ms: ms(this.video.currentTime) });
  }

  // Sends a beacon of any type of docs/telemetry.md (session_id, seq, ts added).
  emit(event, fields) {
    if (this.detached) return null;
    return this.transport.push(event, fields);
  }

  stats() { return this.transport.stats(); }

  // Ends the session: session_end, then every unacknowledged beacon goes by
  // sendBeacon (which outlives the page); the socket lingers lingerMs to take acks.
  detach({ lingerMs = 2000 } = {}) {
    if (this.detached) return;
    this.emit('session_end', { playhead_ms: ms(this.video.currentTime) });
    this.detached = true;
    clearInterval(this.heartbeatTimer);
    this.detachPlayer();
    for (const [target, name, fn] of this.listeners) target.removeEventListener(name, fn);
    this.transport.flush();
    this.transport.close(lingerMs);
  }

  // ---- the video element and the page ----

  listen() {
    const v = this.video, s = this.state;
    const on = (target, name, fn) => { target.addEventListener(name, fn); this.listeners.push([target, name, fn]); };
    this.listeners = [];
    on(v, 'playing', () => {
      if (!s.firstFrame) {
        s.firstFrame = true;
        this.emit('playing', { startup_ms: Math.max(0, Date.now() - this.requestedAt), playhead_ms: ms(v.currentTime) });
        this.rendition(this.adapter?.current());
      }
      s.inSeek = false;
      this.stall(false);
    });
    on(v, 'waiting', () => this.stall(true));
    on(v, 'seeking', () => {
      if (!s.firstFrame) return;
      this.stall(false); // a stall the viewer seeks out of ends here; the rest is the seek's
      s.inSeek = true;
      s.ended = false;
      this.emit('seek', { playhead_ms: ms(v.currentTime), from_ms: ms(s.lastPlayhead) });
    });
    on(v, 'seeked', () => { if (v.paused || v.readyState >= HAVE_FUTURE_DATA) s.inSeek = false; });
    on(v, 'canplay', () => { if (!v.seeking) s.inSeek = false; });
    on(v, 'timeupdate', () => { if (!v.seeking) s.lastPlayhead = v.currentTime; });
    on(v, 'pause', () => {
      if (!s.firstFrame || v.ended || s.ended) return;
      s.paused = true;
      this.stall(false);
      this.emit('pause', { playhead_ms: ms(v.currentTime) });
    });
    on(v, 'play', () => {
      if (!s.paused) return;
      s.paused = false;
      this.emit('resume', { playhead_ms: ms(v.currentTime) });
    });
    on(v, 'ended', () => {
      if (s.ended) return;
      s.ended = true;
      this.stall(false);
      this.emit('ended', { playhead_ms: ms(v.currentTime) });
    });
    // Without a player engine the element's own errors are the player's, and fatal.
    on(v, 'error', () => { if (!this.adapter && v.error) this.error(`media_err_${v.error.code}`, { fatal: true }); });
    if (this.options.flushOnHide !== false && typeof window !== 'undefined') {
      // pagehide ends the session (and flushes); a hidden page may never come back (mobile
      // browsers discard background tabs without pagehide), so what is unacknowledged goes
      // by sendBeacon then too, and the session goes on if it returns. 'unload' only where
      // there is no pagehide: listening to it costs the page its back-forward cache.
      on(window, 'onpagehide' in window ? 'pagehide' : 'unload', () => this.detach({ lingerMs: 0 }));
      on(document, 'visibilitychange', () => { if (document.visibilityState === 'hidden') this.transport.flush(); });
    }
  }

  heartbeat() {
    const v = this.video, s = this.state;
    if (!s.firstFrame || s.ended || this.detached) return;
    this.rendition(this.adapter?.current());
    let ahead = 0;
    const b = v.buffered;
    for (let i = 0; b && i < b.length; i++) if (b.start(i) <= v.currentTime + 0.05 && v.currentTime <= b.end(i)) ahead = b.end(i) - v.currentTime;
    const dropped = this.adapter?.droppedFrames?.() ?? v.getVideoPlaybackQuality?.().droppedVideoFrames ?? 0;
    this.emit('heartbeat', {
      playhead_ms: ms(v.currentTime),
      bitrate: this.current?.bitrate || 0,
      buffer_ms: ms(ahead),
      dropped_frames: dropped,
      player_width: Math.round(v.clientWidth || 0),
      player_height: Math.round(v.clientHeight || 0),
      width: v.videoWidth || this.current?.width || undefined,
      height: v.videoHeight || this.current?.height || undefined,
    });
  }
}

// Starts reporting a playback session of `video`. Options:
//   url          the collector's WebSocket, e.g. wss://telemetry.example.com/v1/beacons (required)
//   beaconUrl    where sendBeacon posts (default: url with http(s), same path)
//   sessionId    the playback session id core issued (POST /api/v1/playback/{title}) (required)
//   token        the playback token of the session's URLs (required; binds the beacons)
//   titleId, assetId (required); device (default deviceName()); viewerId; durationMs
//   player       {name, version} for session_start (default kino-qoe + the engine)
//   hls | dash | shaka   the player instance to listen to (or attachPlayer() later)
//   heartbeatMs  10000; requestedAt (ms, the play request, for startup_ms; default now)
//   fatalErrors  'player' (default: as the player says) or 'app' (the page reports the
//                errors the player calls fatal with error(), recovered or not)
//   maxPending 1000; maxInFlight 64; backoff {initialMs: 1000, maxMs: 30000}; ackTimeoutMs 15000;
//   maxBeaconBytes 61440; flushOnHide true
//   hooks        for tests and logging: onBeacon(b), onAnswer(frame), onConnect, onOpen,
//                onReconnectScheduled({attempt, base, delay}), onAckTimeout, onFlush, onDrop;
//   WebSocket, sendBeacon   replacements for the browser's (tests)
export function attach(video, options) {
  return new KinoQoe(video, options);
}

export { BeaconTransport, hlsAdapter, dashAdapter, shakaAdapter };
