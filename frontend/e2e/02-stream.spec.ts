import { expect, test } from '@playwright/test';
import { apiJson, pageWindowStarts } from './support';

interface Detail {
  viewers: number | null;
  chat_rate: number | null;
  live: boolean;
}
interface MetricsPage {
  items: { window_start: string }[];
}

const number = (text: string | null) => Number((text ?? '').replace(/[^\d.]/g, ''));

test('numbers on the stream page match the API', async ({ page, request }) => {
  await page.goto('/streams/nebula');
  await expect(page.getByRole('heading', { level: 1, name: 'nebula' })).toBeVisible();
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-status', 'live');

  // The values move every second or two: what the page shows must be what the API said just before or after.
  await expect
    .poll(
      async () => {
        const before = await apiJson<Detail>(request, '/api/v1/streams/nebula');
        const viewers = number(await page.getByTestId('stat-viewers').textContent());
        const chatRate = number(await page.getByTestId('stat-chat-rate').textContent());
        const after = await apiJson<Detail>(request, '/api/v1/streams/nebula');
        const viewersMatch = [before.viewers, after.viewers].includes(viewers);
        const rateMatch = [before.chat_rate, after.chat_rate].some((r) => r !== null && Math.abs(r - chatRate) < 0.051);
        return viewersMatch && rateMatch;
      },
      { timeout: 20_000, intervals: [250] },
    )
    .toBe(true);

  // Every closed window the API has for the last 15 minutes is on the chart, once. (Right after the demo
  // starts no window has closed yet and the metrics endpoint answers 404 until one has.)
  const closedWindows = async () => {
    const from = new Date(Date.now() - 15 * 60_000).toISOString();
    const response = await request.get(`/api/v1/streams/nebula/metrics?from=${from}&limit=1000`);
    return response.ok() ? ((await response.json()) as MetricsPage).items.map((w) => Date.parse(w.window_start)) : [];
  };
  await expect.poll(async () => (await closedWindows()).length, { timeout: 45_000, intervals: [1_000] }).toBeGreaterThan(0);
  await expect
    .poll(
      async () => {
        const api = await closedWindows();
        const { starts } = await pageWindowStarts(page);
        expect(new Set(starts).size, 'duplicate window starts').toBe(starts.length);
        return api.filter((s) => !starts.includes(s)).length;
      },
      { timeout: 30_000, intervals: [1_000] },
    )
    .toBe(0);

  // Timestamps are in the viewer's time zone (the browser runs in America/New_York).
  await expect(page.getByText('America/New_York')).toBeVisible();
  const shown = await page.getByTestId('last-update').locator('time').textContent();
  const ts = Number(await page.getByTestId('last-update').getAttribute('data-ts'));
  const expected = new Intl.DateTimeFormat('en-US', {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZone: 'America/New_York',
  }).format(ts);
  expect(shown).toBe(expected);
});

test('a live update arrives within 15 s', async ({ page }) => {
  await page.goto('/streams/chesswhiz');
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-status', 'live');
  const first = await page.evaluate(() => window.__telemetra!.state().pushes);
  const started = Date.now();
  await expect
    .poll(() => page.evaluate(() => window.__telemetra!.state().pushes), { timeout: 15_000, intervals: [200] })
    .toBeGreaterThan(first);
  expect(Date.now() - started).toBeLessThan(15_000);
  const stamp = page.getByTestId('last-update');
  const before = await stamp.getAttribute('data-ts');
  await expect(stamp).not.toHaveAttribute('data-ts', before ?? '', { timeout: 15_000 });
});

test('ranges switch the charts between resolutions', async ({ page }) => {
  await page.goto('/streams/nebula');
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-status', 'live');
  await page.getByRole('button', { name: '6h' }).click();
  await expect(page).toHaveURL(/range=6h/);
  await expect(page.getByRole('button', { name: '6h' })).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(async () => (await pageWindowStarts(page)).resolution).toBe('1m');
  const { starts } = await pageWindowStarts(page);
  expect(starts.every((s) => s % 60_000 === 0)).toBe(true);
  await page.getByRole('button', { name: '24h' }).click();
  await expect.poll(async () => (await pageWindowStarts(page)).resolution).toBe('5m');
});

test('falls back to REST polling when WebSockets are blocked', async ({ page }) => {
  // Every WebSocket to the live endpoint is dropped before the server's first message.
  await page.routeWebSocket(/\/ws\/live\//, (ws) => ws.close());
  await page.goto('/streams/nebula');
  const status = page.getByTestId('connection-status');
  await expect(status).toHaveAttribute('data-status', 'polling', { timeout: 20_000 });
  await expect(status).toContainText('Live (polling)');
  const stamp = page.getByTestId('last-update');
  const before = await stamp.getAttribute('data-ts');
  await expect(stamp).not.toHaveAttribute('data-ts', before ?? '', { timeout: 15_000 });
});
