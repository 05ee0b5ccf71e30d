/**
 * The panel's Schedules section: a schedule added to the example notebook is listed with its
 * cron, time zone and next tick, can be paused, and removed.
 */
import { expect, test } from '@jupyterlab/galata';

import { ContainerizeHelper } from './helpers/containerize';

// 29 February at midnight: the next tick is in 2028, never during the test
const CRON = '0 0 29 2 *';

test.describe('Schedules in the panel', () => {
  test('add, pause and remove a schedule of the notebook', async ({ page, tmpPath }) => {
    const helper = new ContainerizeHelper(page);
    const notebook = await helper.openExample(tmpPath);
    await helper.open();
    await expect(helper.field('python')).toContainText(/^3\./, { timeout: 60000 });

    const section = helper.section('Schedules');
    await section.scrollIntoViewIfNeeded();
    await expect(section).toContainText('No schedule runs this notebook.');
    await section.locator('#jp-containerize-cron').fill(CRON);
    await section.locator('#jp-containerize-timezone').fill('Europe/Paris');
    await section.getByRole('button', { name: 'Add schedule' }).click();

    // the image it pins is built first: the schedule shows once the POST answered
    const item = section.locator('.jp-Containerize-schedule');
    await expect(item).toHaveCount(1, { timeout: 10 * 60 * 1000 });
    await expect(item.locator('[data-field="schedule-cron"]')).toHaveText(CRON);
    await expect(item.locator('[data-field="schedule-timezone"]')).toHaveText('Europe/Paris');
    await expect(item.locator('[data-field="schedule-status"]')).toHaveText('active');
    await expect(item.locator('[data-field="schedule-next"]')).toContainText('2028');
    await expect(item.locator('[data-field="schedule-next"]')).toContainText(/\(in \d+ days\)/);
    await expect(item).toContainText('No tick yet.');

    // the server holds it, for this notebook, with its next tick in UTC
    const listed = await page.request.get('/containerize/api/schedules');
    const schedules = (await listed.json()).schedules.filter(
      (s: { path: string }) => s.path === notebook
    );
    expect(schedules).toHaveLength(1);
    expect(schedules[0].next).toBe('2028-02-28T23:00:00.000Z');
    await section.evaluate(el => el.scrollIntoView({ block: 'start' }));
    await helper.shot('07-schedules', true);

    await item.getByRole('button', { name: 'Pause' }).click();
    await expect(item.locator('[data-field="schedule-status"]')).toHaveText('paused');
    await expect(item.locator('[data-field="schedule-next"]')).toHaveText('none while paused');
    await expect(item.getByRole('button', { name: 'Resume' })).toBeVisible();

    await item.getByRole('button', { name: 'Remove' }).click();
    await expect(item).toHaveCount(0);
    await expect(section).toContainText('No schedule runs this notebook.');
    const after = await (await page.request.get('/containerize/api/schedules')).json();
    expect(after.schedules.filter((s: { id: string }) => s.id === schedules[0].id)).toEqual(
      []
    );
  });

  test("a schedule's ticks are listed with their runs", async ({ page, tmpPath }) => {
    const helper = new ContainerizeHelper(page);
    await helper.openExample(tmpPath);
    await helper.open();
    await expect(helper.field('python')).toContainText(/^3\./, { timeout: 60000 });

    // six fields, seconds first: a tick every 20 seconds
    const section = helper.section('Schedules');
    await section.locator('#jp-containerize-cron').fill('*/20 * * * * *');
    await section.locator('#jp-containerize-timezone').fill('UTC');
    await section.getByRole('button', { name: 'Add schedule' }).click();
    const item = section.locator('.jp-Containerize-schedule');
    await expect(item).toHaveCount(1, { timeout: 10 * 60 * 1000 });

    // the first tick's run: its status and run id, as the run jobs say
    const run = item.locator('[data-field="schedule-run"]', { hasText: 'succeeded' }).first();
    await expect(run).toBeVisible({ timeout: 5 * 60 * 1000 });
    const id = ((await run.locator('code').textContent()) ?? '').trim();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    const job = await (await page.request.get(`/containerize/api/jobs/${id}`)).json();
    expect(job.kind).toBe('run');
    expect(job.status).toBe('succeeded');
    expect(job.params.schedule).toBe(await item.getAttribute('data-schedule'));

    await item.getByRole('button', { name: 'Remove' }).click();
    await expect(item).toHaveCount(0);
  });
});
