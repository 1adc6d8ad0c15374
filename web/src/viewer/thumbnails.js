// Trick-play thumbnails: the WebVTT that ingest writes (thumbs/thumbs.vtt) has one cue per
// tile, "sprite-000.jpg#xywh=x,y,w,h", relative to the VTT's own URL.

function seconds(ts) {
  const parts = ts.trim().split(':').map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

export function parseThumbnailVtt(text, vttUrl) {
  const cues = [];
  const blocks = text.replace(/\r/g, '').split(/\n\n+/);
  for (const block of blocks) {
    const lines = block.split('\n').filter(Boolean);
    const i = lines.findIndex((l) => l.includes('-->'));
    if (i < 0 || !lines[i + 1]) continue;
    const [a, b] = lines[i].split('-->');
    const target = lines[i + 1].trim();
    const hash = target.indexOf('#xywh=');
    const file = hash >= 0 ? target.slice(0, hash) : target;
    const [x, y, w, hgt] = hash >= 0 ? target.slice(hash + 6).split(',').map(Number) : [0, 0, 0, 0];
    cues.push({ start: seconds(a), end: seconds(b.split(' ').filter(Boolean)[0]), url: new URL(file, vttUrl).href, x, y, w, h: hgt });
  }
  return cues;
}

export function cueAt(cues, t) {
  let lo = 0, hi = cues.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (t < cues[mid].start) hi = mid - 1;
    else if (t >= cues[mid].end) lo = mid + 1;
    else return cues[mid];
  }
  return cues.length && t >= cues[cues.length - 1].end ? cues[cues.length - 1] : null;
}
