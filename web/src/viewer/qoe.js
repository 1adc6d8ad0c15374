// The QoE SDK: reports how playback goes to Kino's telemetry collector, as beacons of
// schema v1 (docs/telemetry.md) over its WebSocket (/v1/beacons). Every beacon has a
// sequence number and stays pending until the collector acknowledges it; "backoff" and
// "throttled" answers and lost connections resend it later (the collector deduplicates
// on (session_id, seq)). What is still pending when the page goes away is handed to
// navigator.sendBeacon (POST /v1/beacons).

const MAX_PENDING = 1000;

// Where the collector is: the playback answer's beacon_url when the API gives one, a
// deployment's override in localStorage, else the telemetry.listen default of `kino up`
// (port 8081 of the same host).
export function telemetryUrl(playback) {
  if (playback?.beacon_url) return new URL(playback.beacon_url, location.href).href.replace(/^http/, 'ws');
  const saved = localStorage.getItem('kino.telemetry.url');
  if (saved) return saved;
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.hostname}:8081/v1/beacons`;
}

export function deviceName() {
  const ua = navigator.userAgent;
  const kind = /Mobi|Android/.test(ua) ? 'mobile' : /iPad|Tablet/.test(ua) ? 'tablet' : 'desktop';
  const browser = /Edg\//.test(ua) ? 'edge' : /Chrom(e|ium)\//.test(ua) ? 'chrome' : /Firefox\//.test(ua) ? 'firefox' : /Safari\//.test(ua) ? 'safari' : 'browser';
  return `web-${kind}-${browser}`;
}

export class QoeReporter {
  constructor(url, sessionId) {
    this.url = url;
    this.sessionId = sessionId;
    this.seq = 0;
    this.pending = new Map(); // seq -> beacon, until acknowledged
    this.acked = 0;
    this.rejected = [];
    this.retryDelay = 1000;
    this.closed = false;
    this.connect();
  }

  connect() {
    if (this.closed) return;
    let ws;
    try { ws = new WebSocket(this.url); } catch { this.reconnect(); return; }
    this.ws = ws;
    ws.onopen = () => {
      this.retryDelay = 1000;
      for (const b of this.pending.values()) ws.send(JSON.stringify(b));
    };
    ws.onmessage = (m) => this.answer(m.data);
    ws.onclose = () => { if (this.ws === ws) { this.ws = null; this.reconnect(); } };
    ws.onerror = () => {};
  }

  reconnect() {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => { this.timer = null; this.connect(); }, this.retryDelay);
    this.retryDelay = Math.min(30000, this.retryDelay * 2);
  }

  answer(text) {
    let r;
    try { r = JSON.parse(text); } catch { return; }
    if (r.session_id !== this.sessionId) return;
    if (r.type === 'ack') {
      this.pending.delete(r.seq);
      this.acked++;
    } else if (r.type === 'error') {
      // Refused for good (the field says why): keep a note, never resend.
      this.pending.delete(r.seq);
      this.rejected.push(r);
      console.warn(`QoE beacon ${r.seq} refused: ${r.field}: ${r.message}`);
    } else if (r.type === 'backoff' || r.type === 'throttled') {
      const b = this.pending.get(r.seq);
      if (b) setTimeout(() => { if (this.pending.has(r.seq) && this.ws?.readyState === 1) this.ws.send(JSON.stringify(b)); }, (r.retry_after_s || 1) * 1000);
    }
  }

  emit(event, fields = {}) {
    if (this.closed) return;
    const b = { v: 1, session_id: this.sessionId, seq: this.seq++, ts: Date.now(), event, ...fields };
    if (this.pending.size >= MAX_PENDING) {
      // The collector has been away for long: drop the oldest heartbeat, never an event.
      for (const [seq, old] of this.pending) if (old.event === 'heartbeat') { this.pending.delete(seq); break; }
    }
    this.pending.set(b.seq, b);
    if (this.ws?.readyState === 1) this.ws.send(JSON.stringify(b));
  }

  // Ends the session: session_end, then whatever is unacknowledged goes by sendBeacon,
  // which outlives the page.
  close() {
    if (this.closed) return;
    this.emit('session_end');
    this.closed = true;
    clearTimeout(this.timer);
    const rest = [...this.pending.values()];
    if (rest.length && navigator.sendBeacon) {
      const http = this.url.replace(/^ws/, 'http');
      try { navigator.sendBeacon(http, new Blob([JSON.stringify(rest)], { type: 'text/plain' })); } catch { /* best effort */ }
    }
    // Let the socket deliver what it has before closing it.
    const ws = this.ws;
    this.ws = null;
    if (ws) setTimeout(() => ws.close(), 2000);
  }
}
