// Builds the three single-page apps into dist/ for `kino serve` (core/web_static.c):
//   dist/index.html            the viewer app (/)
//   dist/admin/index.html      the admin console (/admin)
//   dist/analytics/index.html  the analyst dashboard (/analytics)
//   dist/assets/*              bundles and images named by content hash, served immutable,
//                              each with a precompressed .gz twin.
//   dist/assets/kino-qoe.js    the QoE SDK (src/sdk/) alone, one ESM file with no imports,
//                              for third-party pages (docs/telemetry.md, "Player SDK"); also
//                              as kino-qoe-<hash>.js, the name to cache forever.
// Everything the apps need is bundled here: nothing is loaded from the internet at run time.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// `node build.mjs --outdir DIR` builds elsewhere (the browser tests build into their
// build directory, so a running server's web/dist is never touched).
const outArg = process.argv.indexOf('--outdir');
const dist = outArg > 0 ? path.resolve(process.argv[outArg + 1]) : path.join(here, 'dist');
const assets = path.join(dist, 'assets');

const apps = [
  { name: 'viewer', entry: 'src/viewer/main.js', html: 'index.html', title: 'Kino' },
  { name: 'admin', entry: 'src/admin/main.js', html: 'admin/index.html', title: 'Kino Admin' },
  { name: 'analytics', entry: 'src/analytics/main.js', html: 'analytics/index.html', title: 'Kino Analytics' },
];

await rm(dist, { recursive: true, force: true });
await mkdir(assets, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: Object.fromEntries(apps.map((a) => [a.name, a.entry])),
  bundle: true,
  splitting: true, // the players are loaded on demand, shared code once
  format: 'esm',
  outdir: assets,
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  minify: true,
  sourcemap: 'linked',
  target: ['chrome100', 'firefox100', 'safari15'],
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

// The QoE SDK on its own: a stable name for embedding, and a hashed one for caching.
const sdk = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { 'kino-qoe': 'src/sdk/kino-qoe.js' },
  bundle: true,
  format: 'esm',
  outdir: assets,
  minify: true,
  sourcemap: 'linked',
  target: ['chrome100', 'firefox100', 'safari15'],
  metafile: true,
  logLevel: 'warning',
});
const sdkBody = await readFile(path.join(assets, 'kino-qoe.js'));
const sdkHashed = `kino-qoe-${createHash('sha256').update(sdkBody).digest('hex').slice(0, 10)}.js`;
await writeFile(path.join(assets, sdkHashed), sdkBody); // its source map stays kino-qoe.js.map
Object.assign(result.metafile.outputs, sdk.metafile.outputs, { [path.join(assets, sdkHashed)]: { bytes: sdkBody.length } });

// The favicon, named by its hash like every other asset.
const favicon = await readFile(path.join(here, 'src/common/favicon.svg'));
const faviconName = `favicon-${createHash('sha256').update(favicon).digest('hex').slice(0, 10)}.svg`;
await writeFile(path.join(assets, faviconName), favicon);

const outputs = result.metafile.outputs;
for (const app of apps) {
  const [js, meta] = Object.entries(outputs).find(([, o]) => o.entryPoint === app.entry);
  const css = meta.cssBundle;
  const url = (p) => '/assets/' + path.basename(p);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<meta name="theme-color" content="#0d0f14">
<title>${app.title}</title>
<link rel="icon" type="image/svg+xml" href="${url(faviconName)}">
${css ? `<link rel="stylesheet" href="${url(css)}">` : ''}
<script type="module" src="${url(js)}"></script>
</head>
<body>
<noscript>Kino needs JavaScript to run.</noscript>
<div id="app" class="app-root"><div class="boot" role="status" aria-live="polite">Loading…</div></div>
</body>
</html>
`;
  await mkdir(path.dirname(path.join(dist, app.html)), { recursive: true });
  await writeFile(path.join(dist, app.html), html);
}

// Precompressed twins for the text files worth compressing.
async function gzipTree(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) { await gzipTree(p); continue; }
    if (!/\.(js|css|html|svg|txt)$/.test(entry.name)) continue;
    const body = await readFile(p);
    if (body.length < 1024) continue;
    await writeFile(p + '.gz', gzipSync(body, { level: 9 }));
  }
}
await gzipTree(dist);

const sizes = Object.entries(outputs)
  .filter(([p]) => !p.endsWith('.map'))
  .map(([p, o]) => `  ${path.relative(here, p)}  ${(o.bytes / 1024).toFixed(1)} KiB`);
console.log(`built ${apps.length} apps into ${path.relative(process.cwd(), dist) || '.'}:\n${sizes.join('\n')}`);
