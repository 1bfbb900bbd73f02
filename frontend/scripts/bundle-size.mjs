#!/usr/bin/env node
// Records the initial-load size of the built dashboard (what index.html loads before any lazy chunk):
// prints it, writes dist/bundle-size.json, and fails above the budget (300 kB gzipped).
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../dist');
const BUDGET = 300 * 1024;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
const size = (file) => {
  const bytes = readFileSync(join(dist, file));
  return { file, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
};
const initialFiles = initial.map(size);
const all = readdirSync(join(dist, 'assets'))
  .filter((f) => /\.(js|css)$/.test(f))
  .map((f) => size(`assets/${f}`));
const sum = (files, key) => files.reduce((total, f) => total + f[key], 0);
const report = {
  budget_gzip: BUDGET,
  initial: { files: initialFiles, raw: sum(initialFiles, 'raw'), gzip: sum(initialFiles, 'gzip') },
  all: { files: all, raw: sum(all, 'raw'), gzip: sum(all, 'gzip') },
};
writeFileSync(join(dist, 'bundle-size.json'), JSON.stringify(report, null, 2) + '\n');
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
console.log(`initial load: ${kb(report.initial.raw)} raw, ${kb(report.initial.gzip)} gzipped (budget ${kb(BUDGET)})`);
for (const f of all) console.log(`  ${f.file.padEnd(48)} ${kb(f.raw).padStart(10)} ${kb(f.gzip).padStart(10)} gz`);
console.log(`everything (a stream page opened directly): ${kb(report.all.gzip)} gzipped`);
if (report.all.gzip > BUDGET) {
  console.error(`bundle over budget: ${kb(report.all.gzip)} > ${kb(BUDGET)}`);
  process.exit(1);
}
