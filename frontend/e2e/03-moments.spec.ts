import { expect, test } from '@playwright/test';
import { apiJson } from './support';

interface Moment {
  moment_id: string;
  kind: string;
  start: string;
  end: string;
  peak_at: string;
  description: string;
}

test('a moment appears on the timeline and clicking it zooms the charts', async ({ page, request }) => {
  // The demo raids pixelpioneer about 35 s after it starts.
  let moment: Moment | undefined;
  await expect
    .poll(
      async () => {
        const page = await apiJson<{ items: Moment[] }>(request, '/api/v1/streams/pixelpioneer/moments');
        moment = page.items[page.items.length - 1];
        return moment !== undefined;
      },
      { timeout: 75_000, intervals: [1_000] },
    )
    .toBe(true);

  await page.goto('/streams/pixelpioneer');
  const item = page.locator(`[data-testid="moment"][data-moment-id="${moment!.moment_id}"]`);
  await expect(item).toBeVisible();
  await expect(item).toContainText(moment!.description);
  await expect(item.locator('svg')).toHaveCount(1); // the kind icon

  await item.click();
  await expect(item).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('zoom-banner')).toContainText('Zoomed to');
  const start = Date.parse(moment!.start);
  const end = Math.max(Date.parse(moment!.end), Date.parse(moment!.peak_at));
  const pad = Math.max(120_000, (end - start) / 2);
  for (const chart of ['chart-chat-rate', 'chart-viewers', 'chart-sentiment']) {
    await expect(page.getByTestId(chart)).toHaveAttribute('data-domain-from', String(start - pad));
    await expect(page.getByTestId(chart)).toHaveAttribute('data-domain-to', String(end + pad));
  }
  await expect(page.getByRole('button', { name: '15m' })).toHaveAttribute('aria-pressed', 'false');

  await page.getByRole('button', { name: 'Reset zoom' }).click();
  await expect(page.getByTestId('zoom-banner')).toHaveCount(0);
  await expect(page.getByRole('button', { name: '15m' })).toHaveAttribute('aria-pressed', 'true');
});
