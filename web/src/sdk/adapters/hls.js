// hls.js (1.x) for the Kino QoE SDK. hls.js's events are plain strings
// (Hls.Events.LEVEL_SWITCHED === 'hlsLevelSwitched'), so the adapter needs no import
// of hls.js and works with whichever copy the page has.
//   LEVEL_SWITCHED -> rendition_change; ERROR -> error (code = data.details, fatal as
//   hls.js says). The rendition in force is hls.levels[hls.currentLevel].

const LEVEL_SWITCHED = 'hlsLevelSwitched';
const ERROR = 'hlsError';

export function hlsAdapter(hls, sdk) {
  const level = (i) => {
    const l = hls.levels?.[i];
    return l ? { bitrate: l.bitrate, width: l.width, height: l.height } : null;
  };
  const onSwitched = (_, d) => sdk.rendition(level(d.level));
  const onError = (_, d) => sdk.playerError(String(d.details || d.type || 'hls_error'), !!d.fatal);
  hls.on(LEVEL_SWITCHED, onSwitched);
  hls.on(ERROR, onError);
  return {
    name: 'hls.js',
    version: hls.constructor?.version || '',
    current: () => (hls.currentLevel >= 0 ? level(hls.currentLevel) : null),
    detach() {
      hls.off(LEVEL_SWITCHED, onSwitched);
      hls.off(ERROR, onError);
    },
  };
}
