// Where each title was left, per user, in localStorage, until the API keeps it.
const key = (userId) => `kino.viewer.progress.${userId || 'anon'}`;

export function allProgress(userId) {
  try { return JSON.parse(localStorage.getItem(key(userId)) || '{}'); } catch { return {}; }
}

// The position to resume from, or 0 when there is nothing worth resuming: the first
// seconds, or the last 5 % (credits: the title counts as finished).
export function resumePosition(userId, titleId, all = allProgress(userId)) {
  const p = all[titleId];
  if (!p || !p.duration) return 0;
  return p.position > 5 && p.position < p.duration * 0.95 ? p.position : 0;
}

export function saveProgress(userId, titleId, position, duration) {
  if (!Number.isFinite(position) || !Number.isFinite(duration) || duration <= 0) return;
  const all = allProgress(userId);
  all[titleId] = { position, duration, updated: Date.now() };
  // Keep the 200 most recent titles.
  const entries = Object.entries(all).sort((a, b) => b[1].updated - a[1].updated).slice(0, 200);
  localStorage.setItem(key(userId), JSON.stringify(Object.fromEntries(entries)));
}
