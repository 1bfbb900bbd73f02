// Browser tests against the running embedded platform (`telemetra demo`), driving Debian's Chromium
// (/usr/bin/chromium): no browser download. Build first (`npm run build`): the demo serves dist/ at /.
import { defineConfig, devices } from '@playwright/test';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumArgs, chromiumPath, dist, freePort, telemetra } from './e2e/support';

if (!existsSync(join(dist, 'index.html'))) {
  throw new Error('frontend/dist is missing: run `npm run build` before the browser tests');
}

// Chosen once in the runner process; workers re-read the config and inherit these through the environment.
// E2E_BASE_URL points the tests at a platform that is already running instead (e.g. a demo that has been up
// for a while, for README screenshots with more history); by default each run starts its own.
const external = process.env.E2E_BASE_URL;
if (!external) {
  process.env.E2E_PORT ??= freePort();
  process.env.E2E_DATA_DIR ??= mkdtempSync(join(tmpdir(), 'telemetra-e2e-'));
}
const port = process.env.E2E_PORT;
const baseURL = external ?? `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: './e2e',
  outputDir: './test-results',
  globalTeardown: './e2e/teardown.ts',
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    baseURL,
    locale: 'en-US',
    timezoneId: 'America/New_York',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: { executablePath: chromiumPath, args: chromiumArgs },
  },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'], viewport: { width: 1440, height: 900 } } }],
  webServer: external
    ? undefined
    : {
        command: `"${telemetra}" demo --host 127.0.0.1 --port ${port} --data-dir "${process.env.E2E_DATA_DIR}" --static-dir "${dist}"`,
        url: `${baseURL}/health`,
        reuseExistingServer: false,
        timeout: 60_000,
        stdout: 'ignore',
        stderr: process.env.E2E_SERVER_LOGS ? 'pipe' : 'ignore',
      },
});
