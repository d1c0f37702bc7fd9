// Measures what the tracker weighs: raw, minified, and minified+gzipped (npm run size).
import { transform } from 'esbuild';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
for (const file of ['wwwroot/tracker.js', 'wwwroot/react/index.mjs']) {
  const source = readFileSync(path.join(root, file), 'utf8');
  const { code } = await transform(source, { minify: true, format: file.endsWith('.mjs') ? 'esm' : undefined, target: 'es2018' });
  console.log(`${file}: raw ${Buffer.byteLength(source)} B, gzip ${gzipSync(source, { level: 9 }).length} B, ` +
    `minified ${Buffer.byteLength(code)} B, minified+gzip ${gzipSync(code, { level: 9 }).length} B`);
}
