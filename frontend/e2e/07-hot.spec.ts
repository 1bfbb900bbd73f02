import { expect, test } from '@playwright/test';
import { apiJson, DEMO_STREAMS } from './support';

interface HotList {
  categories: string[];
  items: { stream_id: string; category: string | null; hype: number }[];
}

test('hot right now ranks the live streams by hype, filters by category and links to each stream', async ({ page, request }) => {
  await expect
    .poll(async () => (await apiJson<HotList>(request, '/api/v1/hot')).items.length, { timeout: 30_000 })
    .toBe(DEMO_STREAMS.length);

  await page.goto('/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Hot right now' }).click();
  await expect(page).toHaveURL(/\/hot$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Hot right now' })).toBeFocused();
  await expect(page.getByRole('link', { name: 'Hot right now' })).toHaveAttribute('aria-current', 'page');
  const rows = page.getByTestId('hot-stream');
  await expect(rows).toHaveCount(DEMO_STREAMS.length);
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-status', 'live');

  // Hottest first, as the server ranks them.
  const hype = await page.getByTestId('hot-hype').allTextContents();
  const shown = hype.map(Number);
  expect([...shown].sort((a, b) => b - a)).toEqual(shown);

  // Filtered by a category the API offers; the choice is kept in the URL.
  const { categories, items } = await apiJson<HotList>(request, '/api/v1/hot');
  const category = categories[0]!;
  const inCategory = items.filter((i) => i.category?.toLowerCase() === category.toLowerCase()).map((i) => i.stream_id);
  const filtered = page.waitForRequest((r) => new URL(r.url()).searchParams.get('category') === category);
  await page.getByLabel('Category').selectOption(category);
  await filtered;
  await expect.poll(() => new URL(page.url()).searchParams.get('category')).toBe(category);
  await expect(rows).toHaveCount(inCategory.length);
  await page.getByLabel('Category').selectOption('');
  await expect(rows).toHaveCount(DEMO_STREAMS.length);

  // Each row leads to its stream.
  const first = rows.first();
  const id = (await first.getAttribute('data-stream-id'))!;
  await first.getByRole('link', { name: id }).click();
  await expect(page).toHaveURL(new RegExp(`/streams/${id}$`));
});
