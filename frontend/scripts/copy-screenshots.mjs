#!/usr/bin/env node
// Copy the screenshots of the last browser-test run (test-results/screenshots) to screenshots/ for the README.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'test-results/screenshots');
const to = join(root, 'screenshots');
if (!existsSync(from)) {
  console.error('no screenshots: run the browser tests first (npm run test:e2e)');
  process.exit(1);
}
mkdirSync(to, { recursive: true });
for (const file of readdirSync(from).filter((f) => f.endsWith('.png'))) {
  copyFileSync(join(from, file), join(to, file));
  console.log(`screenshots/${file}`);
}
