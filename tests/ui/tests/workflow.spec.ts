/**
 * The whole demo from the panel against the real engine: build, run with a parameter, serve
 * the model the run saved, and send the deployment a test request through the server.
 */
import { expect, test } from '@jupyterlab/galata';

import { ContainerizeHelper } from './helpers/containerize';

const ROW = [
  17.99, 10.38, 122.8, 1001, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095, 0.9053,
  8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38, 17.33, 184.6,
  2019, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189
];

test.describe.serial('Containerize workflow', () => {
  test('build, run with a parameter, serve, send a request', async ({ page, tmpPath }) => {
    test.setTimeout(30 * 60 * 1000);
    const helper = new ContainerizeHelper(page);
    await helper.openExample(tmpPath);
    await helper.open();
    await expect(helper.field('python')).toContainText(/^3\./, { timeout: 60000 });

    await helper.section('Build').getByRole('button', { name: 'Build' }).click();
    expect(await helper.waitForJob(20 * 60 * 1000)).toBe('succeeded');
    await expect(helper.field('reference')).toContainText('classifier');
    await helper.shot('02-build');

    const run = helper.section('Run');
    await run.locator('input[name="n_estimators"]').fill('10');
    await run.getByRole('button', { name: 'Run' }).click();
    await expect(helper.field('log')).toContainText('run classifier.ipynb started', {
      timeout: 60000
    });
    expect(await helper.waitForJob(20 * 60 * 1000)).toBe('succeeded');
    await expect(helper.field('log')).toContainText('saved model.joblib');
    await expect(helper.field('run-result')).toContainText('model.joblib');
    await helper.shot('03-run');

    const serve = helper.section('Serve');
    await expect(serve.locator('#jp-containerize-model')).toHaveValue(/artifacts\/model\.joblib$/);
    await serve.locator('#jp-containerize-name').fill(`ui-${Date.now().toString(36)}`);
    await serve.getByRole('button', { name: 'Serve' }).click();
    expect(await helper.waitForJob(20 * 60 * 1000)).toBe('succeeded');
    await expect(helper.field('url')).toContainText('http://');
    await helper.shot('04-serve');

    const deployment = helper.panel.locator('.jp-Containerize-deployment').first();
    await deployment.locator('textarea').fill(JSON.stringify({ instances: [ROW] }));
    await deployment.getByRole('button', { name: 'Send test request' }).click();
    await expect(deployment.locator('[data-field="answer"]')).toContainText('HTTP 200', {
      timeout: 60000
    });
    await expect(deployment.locator('[data-field="answer"]')).toContainText('predictions');
    await deployment.scrollIntoViewIfNeeded();
    await helper.shot('05-request');

    // a sweep from the same form: one run per value, side by side
    await run.locator('#jp-containerize-sweep').check();
    await run.locator('input[name="n_estimators"]').fill('5,10');
    await run.locator('#jp-containerize-concurrency').fill('2');
    await run.getByRole('button', { name: 'Run sweep' }).click();
    await expect(helper.field('log')).toContainText('2 runs, 2 at once', { timeout: 60000 });
    expect(await helper.waitForJob(20 * 60 * 1000)).toBe('succeeded');
    const sweep = helper.field('sweep-result');
    await expect(sweep.locator('tbody tr')).toHaveCount(2);
    await expect(sweep.locator('thead')).toContainText('n_estimators');
    await expect(sweep.locator('tbody tr').nth(0)).toContainText('succeeded');
    await expect(sweep.locator('tbody tr').nth(1)).toContainText('10');
    await helper.shot('06-sweep');
  });
});
