// Shaka Player (4.x) for the Kino QoE SDK, through its documented API (shaka-player is
// not a dependency of Kino; the adapter is written against the API and tested with a
// fake player, tests/browser/qoe_sdk.mjs):
//   'adaptation' (ABR) and 'variantchanged' (manual) -> rendition_change, from the
//   active variant of getVariantTracks() (bandwidth, width, height);
//   'buffering' (event.buffering true/false) -> rebuffer_start/rebuffer_end, with the
//   same rule as the video element's stalls (not while seeking);
//   'error' (event.detail is a shaka.util.Error) -> error, code "shaka_<code>", fatal
//   when its severity is CRITICAL (2);
//   getStats() -> dropped frames (droppedFrames) for the heartbeat.

const CRITICAL = 2;

function active(player) {
  const t = player.getVariantTracks?.().find((v) => v.active);
  if (t) return { bitrate: t.bandwidth, width: t.width, height: t.height };
  const s = player.getStats?.();
  return s && s.streamBandwidth ? { bitrate: s.streamBandwidth, width: s.width, height: s.height } : null;
}

export function shakaAdapter(player, sdk) {
  const onVariant = () => sdk.rendition(active(player));
  const onBuffering = (e) => sdk.stall(!!e.buffering);
  const onError = (e) => {
    const d = e.detail || {};
    sdk.playerError(`shaka_${d.code ?? 'error'}`, d.severity === CRITICAL);
  };
  const events = [['adaptation', onVariant], ['variantchanged', onVariant], ['buffering', onBuffering], ['error', onError]];
  for (const [name, fn] of events) player.addEventListener(name, fn);
  return {
    name: 'shaka-player',
    version: globalThis.shaka?.Player?.version || '',
    current: () => active(player),
    droppedFrames: () => {
      const n = player.getStats?.().droppedFrames;
      return Number.isFinite(n) ? n : null;
    },
    detach() {
      for (const [name, fn] of events) player.removeEventListener(name, fn);
    },
  };
}
