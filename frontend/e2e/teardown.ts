// Remove the data directory of the demo this run started (a temporary directory made by the config).
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname } from 'node:path';

export default function teardown(): void {
  const dir = process.env.E2E_DATA_DIR;
  if (dir && !process.env.E2E_BASE_URL && dirname(dir) === tmpdir() && basename(dir).startsWith('telemetra-e2e-')) {
    rmSync(dir, { recursive: true, force: true });
  }
}
