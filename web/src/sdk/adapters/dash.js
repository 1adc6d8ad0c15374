// dash.js (5.x) for the Kino QoE SDK, through its MediaPlayer events:
//   'qualityChangeRendered' (video) -> rendition_change; 'error' -> error (dash.js
//   raises it for errors it cannot get past: fatal; code "dash_<code>").
// The rendition in force is getCurrentRepresentationForType('video').

const QUALITY_RENDERED = 'qualityChangeRendered';
const ERROR = 'error';

const rep = (r) => (r ? { bitrate: r.bandwidth, width: r.width, height: r.height } : null);

export function dashAdapter(player, sdk) {
  const onQuality = (e) => { if (e.mediaType === 'video') sdk.rendition(rep(e.newRepresentation)); };
  const onError = (e) => {
    const err = e.error || e;
    sdk.playerError(`dash_${err.code ?? err.message ?? 'error'}`, true);
  };
  player.on(QUALITY_RENDERED, onQuality);
  player.on(ERROR, onError);
  return {
    name: 'dash.js',
    version: player.getVersion?.() || '',
    current: () => {
      try { return rep(player.getCurrentRepresentationForType?.('video')); } catch { return null; }
    },
    detach() {
      player.off(QUALITY_RENDERED, onQuality);
      player.off(ERROR, onError);
    },
  };
}
