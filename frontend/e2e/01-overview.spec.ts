import { expect, test } from '@playwright/test';
import { apiJson, DEMO_STREAMS } from './support';

interface StreamList {
  items: { stream_id: string; live: boolean; viewers: number | null }[];
}

test('the overview lists the demo streams, with search, sort and keyboard navigation', async ({ page, request }) => {
  await expect
    .poll(async () => (await apiJson<StreamList>(request, '/api/v1/streams')).items.length, { timeout: 30_000 })
    .toBe(DEMO_STREAMS.length);

  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1, name: 'Streams' })).toBeVisible();
  const cards = page.getByTestId('stream-card');
  await expect(cards).toHaveCount(DEMO_STREAMS.length, { timeout: 20_000 });
  for (const id of DEMO_STREAMS) {
    const card = page.locator(`[data-testid="stream-card"][data-stream-id="${id}"]`);
    await expect(card.getByRole('link', { name: id })).toBeVisible();
    await expect(card.getByText('Live', { exact: true })).toBeVisible();
  }
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-status', 'live');

  // Sorted by viewers (the default), as the API counts them.
  const shown = await cards.evaluateAll((nodes) =>
    nodes.map((n) => Number((n.querySelector('[data-testid="card-viewers"]')?.textContent ?? '').replace(/\D/g, ''))),
  );
  expect([...shown].sort((a, b) => b - a)).toEqual(shown);

  // Searched and sorted by the server.
  const searched = page.waitForRequest((r) => new URL(r.url()).searchParams.get('q') === 'pixel');
  await page.getByLabel('Search').fill('pixel');
  await searched;
  await expect(cards).toHaveCount(1);
  await expect(cards.first()).toHaveAttribute('data-stream-id', 'pixelpioneer');
  await expect(page.getByTestId('stream-count')).toHaveText(/^1 stream matches, 1 live$/);
  await page.getByLabel('Search').fill('');
  await expect(cards).toHaveCount(DEMO_STREAMS.length);
  const sorted = page.waitForRequest((r) => new URL(r.url()).searchParams.get('sort') === '-chat_rate');
  await page.getByLabel('Sort by').selectOption('chat_rate');
  await sorted;
  await expect(page).toHaveURL(/sort=chat_rate/);

  // Keyboard: tab to a stream's link and open it.
  await page.getByLabel('Sort by').focus();
  await page.keyboard.press('Tab');
  const focused = page.locator(':focus');
  await expect(focused).toHaveAttribute('href', /\/streams\//);
  const href = await focused.getAttribute('href');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`${href}$`));
  await expect(page.getByRole('heading', { level: 1 })).toBeFocused();
});
