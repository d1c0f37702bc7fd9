// Bundles the guide's React example with React from npm (no CDN) for the browser tests:
//   node tests/Tracker.Tests/react-app/build.mjs <output directory>
// The page imports the package by name ('orleans-session-tracking/react'), as an application that installed it
// would; inside this repository that resolves to the repository's own package.json (package self-reference).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2] ?? path.join(here, 'dist');
await build({
  entryPoints: [path.join(here, 'main.tsx')],
  bundle: true,
  format: 'esm',
  jsx: 'automatic',
  target: 'es2020',
  outfile: path.join(outdir, 'app.js'),
  // StrictMode's double effects are a development feature: build React's development bundle to exercise them.
  define: { 'process.env.NODE_ENV': '"development"' },
  logLevel: 'warning',
});
console.log(path.join(outdir, 'app.js'));
