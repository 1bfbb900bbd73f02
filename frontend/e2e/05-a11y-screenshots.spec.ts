import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { screenshotPath } from './support';

async function seriousViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
}

async function ready(page: Page, path: string) {
  await page.goto(path);
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-status', 'live');
  if (path === '/') await expect(page.getByTestId('stream-card').first()).toBeVisible();
  else await expect(page.getByTestId('chart-chat-rate').locator('svg').first()).toBeVisible();
  await page.waitForTimeout(1_000); // let the emote cloud's transitions settle
}

test('axe finds no serious or critical violations', async ({ page }) => {
  await ready(page, '/');
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
      ['stream', '/streams/pixelpioneer'],
    ] as const) {
      await ready(page, path);
      if (device === 'phone') {
        // Nothing may overflow sideways on a phone.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow).toBeLessThanOrEqual(0);
      }
      const file = screenshotPath(`${name}-${device}.png`);
      await page.screenshot({ path: file, fullPage: true });
      await testInfo.attach(`${name}-${device}`, { path: file, contentType: 'image/png' });
    }
  });
}
