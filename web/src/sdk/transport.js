// The beacon transport of the Kino QoE SDK: numbers beacons, keeps each one until the
// collector acknowledges it, and delivers them over the collector's WebSocket
// (/v1/beacons), or by navigator.sendBeacon (POST /v1/beacons) when the page goes away.
// It knows nothing of players: kino-qoe.js feeds it beacons.
//
// Delivery policy (docs/telemetry.md, "Player SDK"):
// - Every beacon gets (session_id, seq), seq counting from 0, and stays in `pending`
//   until an "ack" frame names it. The collector deduplicates on (session_id, seq), so
//   sending a beacon twice (a resend after a reconnect, the sendBeacon flush of a beacon
//   the socket carried too) is harmless; losing one is not.
// - A lost connection reconnects after an exponential backoff with jitter, capped:
//   base = min(maxMs, initialMs x 2^attempt), delay uniform in [base/2, base]. The
//   attempt counter goes back to 0 only once a new connection has had an ack, so a
//   collector that accepts and drops connections is not hammered. A connection that is
//   open but has not acknowledged the oldest sent beacon within ackTimeoutMs (a frozen
//   collector, a half-open TCP connection) is closed and treated as lost.
// - On (re)connect every pending beacon is sent again, in seq order, in batches (JSON
//   arrays) below the collector's message limit.
// - At most maxInFlight beacons (64) are sent and unanswered at once; the next go as
//   answers come back. A player with a backlog (after an outage, say) then paces itself
//   by the collector's acks instead of sending it all at once and, when the collector
//   is saturated, being told to back off and sending it all again.
// - "error" frames: the beacon is refused for good (the field says why); it is kept in
//   `rejected` and never resent. "backoff"/"throttled": the transport holds everything
//   for retry_after_s (with jitter), then sends every unsent beacon again in seq order,
//   the backed-off one first: a busy collector is given the pause it asked for, and a
//   session never reaches it with a hole that newer beacons went through.
// - While offline the pending buffer is bounded (maxPending). When it is full the
//   oldest heartbeat is dropped first; if there is none, the oldest beacon other than
//   session_start and session_end. session_start and session_end are never dropped.
//   Every drop is counted (stats().dropped).
// - flush() hands every pending beacon to navigator.sendBeacon, split into bodies of at
//   most maxBeaconBytes (64 KiB is the browsers' budget for all keepalive bodies in
//   flight, and the collector takes at most 256 KiB per message). session_start goes
//   first, then the other events, heartbeats last: if the browser's budget runs out,
//   heartbeats are what is lost.

const FOREVER = ['session_start', 'session_end'];

export class BeaconTransport {
  // opts: url (ws: or wss:), beaconUrl (http(s), for sendBeacon; derived from url),
  // sessionId, maxPending, maxInFlight, backoff {initialMs, maxMs}, ackTimeoutMs, maxMessageBytes,
  // maxBeaconBytes, WebSocket (a constructor; tests may pass their own),
  // sendBeacon (a function; default navigator.sendBeacon), hooks (see kino-qoe.js).
  constructor(opts) {
    this.url = opts.url;
    this.beaconUrl = opts.beaconUrl || opts.url.replace(/^ws/, 'http');
    this.sessionId = opts.sessionId;
    this.maxPending = opts.maxPending ?? 1000;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 64);
    this.backoff = { initialMs: 1000, maxMs: 30000, ...opts.backoff };
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 15000;
    this.maxMessageBytes = opts.maxMessageBytes ?? 64 * 1024;
    this.maxBeaconBytes = opts.maxBeaconBytes ?? 60 * 1024;
    this.WS = opts.WebSocket || globalThis.WebSocket;
    this.sendBeaconFn = opts.sendBeacon || ((u, body) => navigator.sendBeacon?.(u, body) ?? false);
    this.hooks = opts.hooks || {};
    this.seq = 0;
    this.pending = new Map(); // seq -> {beacon, sentAt}, in seq order (Map keeps insertion order)
    this.rejected = [];
    this.counts = { sent: 0, acked: 0, dropped: 0, connects: 0, reconnects: 0, beaconCalls: 0, beaconFailed: 0 };
    this.attempt = 0;
    this.closed = false;
    this.ws = null;
    this.timer = null;
    this.holdTimer = null; // told to back off: nothing is sent until it fires
    this.holdUntil = 0;
    this.watchdog = setInterval(() => this.checkAcks(), Math.max(250, Math.min(1000, this.ackTimeoutMs / 4)));
    this.connect();
  }

  // ---- the beacons ----

  // Numbers a beacon, keeps it until acknowledged, sends it if connected. Returns it.
  push(event, fields) {
    const beacon = { v: 1, session_id: this.sessionId, seq: this.seq++, ts: Date.now(), event };
    for (const [k, val] of Object.entries(fields || {})) if (val !== undefined && val !== null) beacon[k] = val;
    if (this.pending.size >= this.maxPending) this.dropOne();
    this.pending.set(beacon.seq, { beacon, sentAt: 0 });
    this.hooks.onBeacon?.(beacon);
    this.sendMore();
    return beacon;
  }

  dropOne() {
    let victim = null;
    for (const [seq, e] of this.pending) if (e.beacon.event === 'heartbeat') { victim = seq; break; }
    if (victim === null) for (const [seq, e] of this.pending) if (!FOREVER.includes(e.beacon.event)) { victim = seq; break; }
    if (victim === null) return; // only session_start/session_end: kept, the bound is exceeded by at most 2
    this.hooks.onDrop?.(this.pending.get(victim).beacon);
    this.pending.delete(victim);
    this.counts.dropped++;
  }

  // ---- the socket ----

  isOpen() { return this.ws?.readyState === 1; }

  connect() {
    if (this.closed) return;
    let ws;
    this.counts.connects++;
    this.hooks.onConnect?.({ attempt: this.attempt, at: Date.now() });
    try { ws = new this.WS(this.url); } catch { this.lost(null); return; }
    this.ws = ws;
    this.hadAck = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.hooks.onOpen?.({ attempt: this.attempt, at: Date.now() });
      this.sendMore();
    };
    ws.onmessage = (m) => { if (this.ws === ws) this.answer(m.data); };
    ws.onclose = () => this.lost(ws);
    ws.onerror = () => {};
  }

  // The connection is gone (or never came): try again after the backoff.
  lost(ws) {
    if (ws && this.ws !== ws) return;
    this.ws = null;
    if (ws) { ws.onopen = ws.onmessage = ws.onclose = null; try { ws.close(); } catch { /* closing already */ } }
    for (const e of this.pending.values()) e.sentAt = 0; // unacknowledged: to be sent again
    if (this.closed || this.timer) return;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt++;
    this.counts.reconnects++;
    this.hooks.onReconnectScheduled?.({ attempt: this.attempt, base, delay, at: Date.now() });
    this.timer = setTimeout(() => { this.timer = null; this.connect(); }, delay);
  }

  // A socket that is open but acknowledges nothing is as good as lost.
  checkAcks() {
    if (!this.isOpen()) return;
    const now = Date.now();
    for (const e of this.pending.values()) {
      if (e.sentAt && now - e.sentAt > this.ackTimeoutMs) {
        this.hooks.onAckTimeout?.({ seq: e.beacon.seq, at: now });
        this.lost(this.ws);
        return;
      }
    }
  }

  // Sends the oldest unsent beacons, as many as the window has room for, unless held.
  sendMore() {
    if (!this.isOpen() || this.holdTimer) return;
    let room = this.maxInFlight;
    for (const e of this.pending.values()) if (e.sentAt) room--;
    const next = [];
    for (const e of this.pending.values()) {
      if (room <= 0) break;
      if (!e.sentAt) { next.push(e); room--; }
    }
    this.sendEntries(next);
  }

  // Sends entries as JSON arrays below maxMessageBytes.
  sendEntries(entries) {
    const ws = this.ws;
    if (!entries.length || !this.isOpen()) return;
    const now = Date.now();
    for (const body of batches(entries.map((e) => e.beacon), this.maxMessageBytes)) {
      try { ws.send(body); } catch { return; }
    }
    for (const e of entries) { e.sentAt = now; this.counts.sent++; }
  }

  answer(text) {
    let r;
    try { r = JSON.parse(text); } catch { return; }
    this.hooks.onAnswer?.(r);
    if (r.session_id !== this.sessionId) return;
    const e = this.pending.get(r.seq);
    if (r.type === 'ack') {
      if (e) { this.pending.delete(r.seq); this.counts.acked++; }
      if (!this.hadAck) { this.hadAck = true; this.attempt = 0; }
      if (e) this.sendMore();
    } else if (r.type === 'error') {
      if (e) this.pending.delete(r.seq);
      this.rejected.push(r);
      console.warn(`kino-qoe: beacon ${r.seq} refused: ${r.field}: ${r.message}`);
      if (e) this.sendMore();
    } else if ((r.type === 'backoff' || r.type === 'throttled') && e) {
      const wait = (r.retry_after_s || 1) * 1000 * (1 + Math.random() * 0.5);
      e.sentAt = 0; // not in flight: the watchdog must not count it
      if (Date.now() + wait > this.holdUntil) {
        this.holdUntil = Date.now() + wait;
        clearTimeout(this.holdTimer);
        this.holdTimer = setTimeout(() => this.resume(), wait);
      }
    }
  }

  // The hold is over: what was not sent (or was backed off) goes, in seq order.
  resume() {
    this.holdTimer = null;
    this.holdUntil = 0;
    this.sendMore();
  }

  // ---- leaving ----

  // Hands every pending beacon to navigator.sendBeacon (POST /v1/beacons); they stay
  // pending (the socket may still deliver them: the collector deduplicates). Returns
  // the number of beacons the browser accepted to send.
  flush() {
    const list = [...this.pending.values()].map((e) => e.beacon);
    if (!list.length) return 0;
    const rank = (b) => (b.event === 'session_start' ? 0 : b.event === 'heartbeat' ? 2 : 1);
    list.sort((a, b) => rank(a) - rank(b) || a.seq - b.seq);
    let accepted = 0;
    for (const body of batches(list, this.maxBeaconBytes, true)) {
      let ok = false;
      this.counts.beaconCalls++;
      try { ok = this.sendBeaconFn(this.beaconUrl, new Blob([body.text], { type: 'text/plain' })); } catch { ok = false; }
      this.hooks.onFlush?.({ count: body.count, bytes: utf8.encode(body.text).length, ok });
      if (!ok) { this.counts.beaconFailed++; break; } // the browser's budget is spent
      accepted += body.count;
    }
    return accepted;
  }

  // Stops for good. The socket is closed after lingerMs (to let it deliver and take
  // acks for what it has), at once with 0.
  close(lingerMs = 0) {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = null;
    clearInterval(this.watchdog);
    clearTimeout(this.holdTimer);
    const ws = this.ws;
    if (!ws) return;
    const end = () => { if (this.ws === ws) this.ws = null; ws.onclose = null; try { ws.close(); } catch { /* closed */ } };
    if (lingerMs > 0) setTimeout(end, lingerMs); else end();
  }

  stats() {
    return { ...this.counts, pending: this.pending.size, rejected: this.rejected.length, seq: this.seq, connected: this.isOpen(), attempt: this.attempt };
  }
}

// JSON array bodies of beacons, each below maxBytes (a beacon larger than that alone is
// still sent alone: the collector refuses it with field "beacon"). With `counted`, yields
// {text, count}.
const utf8 = new TextEncoder();
function* batches(beacons, maxBytes, counted = false) {
  let parts = [], size = 2;
  const out = () => (counted ? { text: `[${parts.join(',')}]`, count: parts.length } : `[${parts.join(',')}]`);
  for (const b of beacons) {
    const s = JSON.stringify(b);
    const n = utf8.encode(s).length;
    if (parts.length && size + n + 1 > maxBytes) { yield out(); parts = []; size = 2; }
    parts.push(s);
    size += n + 1;
  }
  if (parts.length) yield out();
}
