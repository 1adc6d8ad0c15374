// Formatting shared by the apps.

export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const s = Math.floor(seconds % 60), m = Math.floor(seconds / 60) % 60, hr = Math.floor(seconds / 3600);
  const mm = hr ? String(m).padStart(2, '0') : String(m);
  return `${hr ? hr + ':' : ''}${mm}:${String(s).padStart(2, '0')}`;
}

export function runtime(seconds) {
  if (!seconds) return '';
  const m = Math.round(seconds / 60);
  if (m < 1) return `${Math.round(seconds)} s`;
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function dateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// A stable hue for a string, for generated artwork.
export function hue(text) {
  let x = 2166136261;
  for (const c of String(text)) x = Math.imul(x ^ c.codePointAt(0), 16777619);
  return (x >>> 0) % 360;
}
