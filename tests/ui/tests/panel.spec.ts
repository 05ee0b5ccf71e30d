/**
 * The Containerize button opens the panel for its notebook and shows the kernel's environment.
 */
import { expect, test } from '@jupyterlab/galata';

import { ContainerizeHelper } from './helpers/containerize';

test.describe('Containerize panel', () => {
  test('toolbar button shows the environment summary', async ({ page, tmpPath }) => {
    const helper = new ContainerizeHelper(page);
    await helper.openExample(tmpPath);
    await expect(helper.button).toBeVisible();
    await helper.open();

    await expect(helper.field('python')).toContainText(/^3\.\d+/, { timeout: 60000 });
    const packages = Number(await helper.field('packages').textContent());
    expect(packages).toBeGreaterThan(5);
    await expect(helper.section('Run').locator('input[name="n_estimators"]')).toHaveValue('50');
    await expect(helper.section('Run').locator('input[name="seed"]')).toHaveValue('0');
    // the Build form's lock: the choices of the server's option table, and as its default the
    // lock_mode the server is configured with (jupyter_server_test_config.py: imported)
    const lock = helper.section('Build').locator('#jp-containerize-lock');
    await expect(lock.locator('option')).toHaveText(['full', 'imported']);
    await expect(lock).toHaveValue('imported');
    await helper.shot('01-environment');

    await page.theme.setDarkTheme();
    await expect(helper.field('python')).toBeVisible();
    await helper.shot('01-environment-dark');
    await page.theme.setLightTheme();
  });

  test('a 404 from the API says to enable the server extension', async ({ page, tmpPath }) => {
    const helper = new ContainerizeHelper(page);
    await helper.openExample(tmpPath);
    await page.route(/\/containerize\/api\//, route =>
      route.fulfill({ status: 404, contentType: 'text/html', body: '<h1>404</h1>' })
    );
    await helper.open();
    await expect(helper.panel).toContainText('server extension is not enabled');
    await expect(
      page.locator('.jp-toast-message', { hasText: 'enable the server extension' }).first()
    ).toBeVisible();
  });

  test('palette has the Containerize commands', async ({ page, tmpPath }) => {
    const helper = new ContainerizeHelper(page);
    await helper.openExample(tmpPath);
    await page.keyboard.press('Control+Shift+C');
    await page.locator('.lm-CommandPalette-input').fill('Containerize');
    await expect(page.locator('.lm-CommandPalette-item')).toHaveCount(5);
    await expect(
      page.locator('.lm-CommandPalette-item', { hasText: 'Team Images' })
    ).toHaveCount(1);
    await page.locator('.lm-CommandPalette-item', { hasText: 'Open Panel' }).click();
    await expect(helper.panel).toBeVisible();
    await expect(helper.field('python')).toContainText(/^3\./, { timeout: 60000 });
  });
});
