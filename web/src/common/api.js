// The Kino API client the apps share: JSON in and out, the bearer token of the app's
// session, and Kino's one error shape turned into ApiError.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // 0 when the server could not be reached
    this.code = code;     // Kino's error code ("not_subscribed") or "network"
  }
}

// One session per app: signing in to the admin console does not sign the
// browser in to the viewer app, and signing out of one leaves the others.
export class Session {
  constructor(app) {
    this.key = `kino.${app}.session`;
    this.listeners = new Set();
    try {
      const saved = JSON.parse(localStorage.getItem(this.key) || 'null');
      this.token = saved?.token || null;
      this.user = saved?.user || null;
    } catch {
      this.token = null;
      this.user = null;
    }
  }
  get signedIn() { return Boolean(this.token); }
  set(token, user) {
    this.token = token;
    this.user = user;
    localStorage.setItem(this.key, JSON.stringify({ token, user }));
    this.listeners.forEach((fn) => fn());
  }
  clear() {
    this.token = null;
    this.user = null;
    localStorage.removeItem(this.key);
    this.listeners.forEach((fn) => fn());
  }
  onChange(fn) { this.listeners.add(fn); }
}

export function createApi(session) {
  async function request(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json' };
    if (session.token) headers.Authorization = `Bearer ${session.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: opts.signal,
        keepalive: opts.keepalive,
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'Cannot reach Kino. Check your connection and try again.');
    }
    const text = res.status === 204 ? '' : await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!res.ok) {
      const e = data?.error || {};
      // A token the server no longer knows ends the session here too.
      if (res.status === 401 && session.token && !opts.keepSessionOn401) session.clear();
      throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || res.statusText || 'request failed');
    }
    return data;
  }
  return {
    request,
    get: (p, o) => request('GET', p, undefined, o),
    post: (p, b, o) => request('POST', p, b, o),
    patch: (p, b, o) => request('PATCH', p, b, o),
    put: (p, b, o) => request('PUT', p, b, o),

    async signIn(email, password, mode = 'signin') {
      const r = await request('POST', `/api/v1/auth/${mode}`, { email, password }, { keepSessionOn401: true });
      session.set(r.token, r.user);
      return r.user;
    },
    async signOut() {
      try { await request('POST', '/api/v1/auth/signout'); } catch { /* ended already */ }
      session.clear();
    },
    // Every page of a list route, up to `max` items.
    async all(path, params = {}, max = 500) {
      const items = [];
      let cursor = null;
      do {
        const q = new URLSearchParams({ ...params, limit: '100' });
        if (cursor) q.set('cursor', cursor);
        const page = await request('GET', `${path}?${q}`);
        items.push(...(page.items || []));
        cursor = page.next_cursor;
      } while (cursor && items.length < max);
      return items;
    },
  };
}
