import { expect, test } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiJson, Demo, freePort, pageWindowStarts } from './support';

test('stopping and restarting the API shows reconnecting, then live, with no duplicate points', async ({ page, request }) => {
  test.setTimeout(120_000);
  // A platform of this spec's own, so stopping it leaves the other specs' server alone.
  const demo = new Demo(freePort(), mkdtempSync(join(tmpdir(), 'telemetra-e2e-restart-')));
  await demo.start();
  try {
    await expect
      .poll(async () => (await request.get(`${demo.baseURL}/api/v1/streams/nebula`)).status(), { timeout: 30_000 })
      .toBe(200);
    await page.goto(`${demo.baseURL}/streams/nebula`);
    const status = page.getByTestId('connection-status');
    await expect(status).toHaveAttribute('data-status', 'live');
    await expect.poll(async () => (await pageWindowStarts(page)).starts.length, { timeout: 30_000 }).toBeGreaterThan(0);
    // The page shows the open window at once; wait for a closed one in the store, so there is history to keep.
    const stored = async () =>
      (await apiJson<{ items: unknown[] }>(request, `${demo.baseURL}/api/v1/streams/nebula/metrics?limit=1000`)).items.length;
    await expect.poll(stored, { timeout: 40_000, intervals: [1_000] }).toBeGreaterThan(0);

    await demo.stop();
    await expect(status).toHaveAttribute('data-status', 'reconnecting', { timeout: 10_000 });
    await expect(status).toContainText('Reconnecting');

    const backfill = page.waitForResponse((r) => r.url().includes('/api/v1/streams/nebula/metrics') && r.ok(), {
      timeout: 45_000,
    });
    await demo.start();
    await expect(status).toHaveAttribute('data-status', 'live', { timeout: 30_000 });
    await expect(status).toContainText('Live');
    await backfill;

    const check = async () => {
      const { starts } = await pageWindowStarts(page);
      expect(new Set(starts).size, 'duplicate window starts').toBe(starts.length);
      expect([...starts].sort((a, b) => a - b)).toEqual(starts);
      return starts;
    };
    await check();
    // New closed windows after the restart are merged in, still without duplicates, and the page has
    // every window the API has.
    const api = async () =>
      (await apiJson<{ items: { window_start: string }[] }>(request, `${demo.baseURL}/api/v1/streams/nebula/metrics?limit=1000`)).items.map(
        (w) => Date.parse(w.window_start),
      );
    await expect
      .poll(async () => {
        const starts = await check();
        return (await api()).every((s) => starts.includes(s));
      }, { timeout: 40_000, intervals: [1_000] })
      .toBe(true);
  } finally {
    await demo.stop();
    rmSync(demo.dataDir, { recursive: true, force: true });
  }
});
