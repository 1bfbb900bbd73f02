import { expect, test } from '@playwright/test';
import { DEMO_STREAMS } from './support';

// Last of the specs on the shared demo: it spends a refresh period, and the earlier specs expect a young demo.
test('the overview pages with the server’s cursors, and keeps the loaded pages live', async ({ page }) => {
  // Pages of one stream instead of 24 (the demo has three): the first page and each "Load more" ask for 24, a
  // refresh for 24 + what was loaded beyond the first page; scaled down here, they go to the real server, whose
  // cursors the page follows.
  const cursors: string[] = [];
  await page.route(/\/api\/v1\/streams\?/, async (route) => {
    const url = new URL(route.request().url());
    const cursor = url.searchParams.get('cursor');
    if (cursor) cursors.push(cursor);
    url.searchParams.set('limit', cursor ? '1' : String(Number(url.searchParams.get('limit')) - 23));
    await route.continue({ url: url.toString() });
  });
  await page.goto('/?sort=name');
  const cards = page.getByTestId('stream-card');
  await expect(cards).toHaveCount(1);
  await expect(page.getByTestId('shown-count')).toHaveText(`Showing 1 of ${DEMO_STREAMS.length}`);
  const more = page.getByRole('button', { name: 'Load more' });
  await more.click();
  await expect(cards).toHaveCount(2);
  await more.click();
  await expect(cards).toHaveCount(3);
  await expect(more).toHaveCount(0);
  expect(cursors).toHaveLength(2);
  const byName = [...DEMO_STREAMS].sort();
  await expect(cards.nth(0)).toHaveAttribute('data-stream-id', byName[0]!);
  await expect(cards.nth(2)).toHaveAttribute('data-stream-id', byName[2]!);

  // The next refresh reads all three again (one request from the start, no cursor) and keeps them.
  const refresh = await page.waitForRequest((r) => r.url().includes('/api/v1/streams?') && r.url().includes('limit=26'));
  expect(new URL(refresh.url()).searchParams.has('cursor')).toBe(false);
  await refresh.response();
  await expect(cards).toHaveCount(3);
  await expect(page.getByTestId('shown-count')).toHaveText(`Showing 3 of ${DEMO_STREAMS.length}`);
});
