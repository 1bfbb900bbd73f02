import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { screenshotPath } from './support';

async function seriousViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
}

/** What sticks out sideways on a phone: the page itself, or any element (charts' SVGs included) even inside a
 *  container that clips or scrolls it. Visually hidden elements (skip links) do not count. */
async function sidewaysOverflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const page = document.documentElement.scrollWidth - window.innerWidth;
    const elements = Array.from(document.querySelectorAll('body *'))
      .filter((el) => {
        const box = el.getBoundingClientRect();
        return box.width > 0 && (box.right > window.innerWidth + 0.5 || box.left < -0.5);
      })
      .filter((el) => !el.closest('.sr-only'))
      .map((el) => `${el.tagName.toLowerCase()}.${String(el.getAttribute('class') ?? '').split(' ')[0]} ends at ${Math.round(el.getBoundingClientRect().right)}`);
    return [...(page > 0 ? [`the page scrolls ${page}px sideways`] : []), ...elements.slice(0, 10)];
  });
}

async function ready(page: Page, path: string) {
  await page.goto(path);
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-status', 'live');
  if (path === '/') await expect(page.getByTestId('stream-card').first()).toBeVisible();
  else if (path === '/hot') await expect(page.getByTestId('hot-stream').first()).toBeVisible();
  else await expect(page.getByTestId('chart-chat-rate').locator('svg').first()).toBeVisible();
  await page.waitForTimeout(1_000); // let the emote cloud's transitions settle
}

test('axe finds no serious or critical violations', async ({ page }) => {
  await ready(page, '/');
  expect(await seriousViolations(page)).toEqual([]);
  await ready(page, '/hot');
  expect(await seriousViolations(page)).toEqual([]);
  await ready(page, '/streams/pixelpioneer');
  expect(await seriousViolations(page)).toEqual([]);
  // Zoomed state too (banner, pressed moment).
  const moment = page.getByTestId('moment').first();
  if (await moment.count()) {
    await moment.click();
    expect(await seriousViolations(page)).toEqual([]);
  }
});

for (const [device, viewport] of [
  ['desktop', { width: 1440, height: 900 }],
  ['phone', { width: 390, height: 844 }],
] as const) {
  test(`screenshots at ${device} width`, async ({ page }, testInfo) => {
    await page.setViewportSize(viewport);
    for (const [name, path] of [
      ['overview', '/'],
      ['hot', '/hot'],
      ['stream', '/streams/pixelpioneer'],
    ] as const) {
      await ready(page, path);
      if (device === 'phone') {
        expect(await sidewaysOverflow(page)).toEqual([]);
        if (name === 'stream') {
          for (const range of ['1h', '24h', '15m']) {
            await page.getByRole('button', { name: range, exact: true }).click();
            await page.waitForTimeout(500);
            expect(await sidewaysOverflow(page), `range ${range}`).toEqual([]);
          }
          const moment = page.getByTestId('moment').first();
          if (await moment.count()) {
            await moment.click(); // zoomed: the banner and the zoomed charts
            expect(await sidewaysOverflow(page), 'zoomed').toEqual([]);
            await page.getByRole('button', { name: 'Reset zoom' }).click();
          }
        }
      }
      const file = screenshotPath(`${name}-${device}.png`);
      await page.screenshot({ path: file, fullPage: true });
      await testInfo.attach(`${name}-${device}`, { path: file, contentType: 'image/png' });
    }
  });
}
