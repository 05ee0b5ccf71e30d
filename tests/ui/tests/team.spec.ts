/**
 * Sharing from the panel against the real engine and the htpasswd registry on 127.0.0.1:5000:
 * build and push, find the image in Team images, pull it, open a kernel that runs inside it.
 * run.sh points DOCKER_CONFIG at a temporary folder; this spec logs in there first.
 */
import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as path from 'path';

import { ContainerizeHelper, EXAMPLE } from './helpers/containerize';

const REGISTRY = process.env.JC_TEST_REGISTRY || '127.0.0.1:5000';
const USER = process.env.JC_REGISTRY_USER || 'team';
const PASSWORD = process.env.JC_REGISTRY_PASSWORD || 'team-secret';
const STEM = `team-${Date.now().toString(36)}`;

function login(): void {
  if (!process.env.DOCKER_CONFIG) {
    throw new Error('DOCKER_CONFIG is not set: run the browser tests with tests/ui/run.sh');
  }
  execFileSync('jupyter', ['containerize', 'login', REGISTRY, '-u', USER, '--password-stdin'], {
    input: `${PASSWORD}\n`,
    stdio: ['pipe', 'pipe', 'inherit']
  });
}

/** Remove what this spec pushed from the registry (the repository is unique to the run). */
async function forget(pinned: string): Promise<void> {
  const [repo, digest] = pinned.split('@');
  const name = repo.split('/').slice(1).join('/');
  const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  await fetch(`http://${REGISTRY}/v2/${name}/manifests/${digest}`, {
    method: 'DELETE',
    headers: { Authorization: `Basic ${auth}` }
  }).catch(() => undefined);
}

test.describe.serial('Team images', () => {
  let pinned = '';
  let direct = '';
  test.beforeAll(login);
  test.afterAll(async () => {
    for (const ref of [pinned, direct]) {
      if (ref) {
        await forget(ref);
      }
    }
  });

  test('push, find, pull and open a kernel in the image', async ({ page, tmpPath }) => {
    test.setTimeout(30 * 60 * 1000);
    const helper = new ContainerizeHelper(page);
    const started = Date.now();
    const lap = (step: string) => console.log(`${step}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await page.contents.uploadFile(EXAMPLE, `${tmpPath}/${STEM}.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/${STEM}.ipynb`);
    await page.locator('#jp-main-statusbar >> text=Idle').waitFor({ timeout: 120000 });
    await helper.open();
    await expect(helper.field('python')).toContainText(/^3\./, { timeout: 60000 });

    const build = helper.section('Build');
    await expect(build.getByRole('button', { name: 'Push' })).toBeDisabled();
    await build.getByRole('button', { name: 'Build' }).click();
    expect(await helper.waitForJob(20 * 60 * 1000)).toBe('succeeded');
    await expect(helper.field('last-image')).toContainText(STEM);
    lap('built');

    await build.getByRole('button', { name: 'Push' }).click();
    await expect(helper.panel.locator('h3', { hasText: /^push / })).toBeVisible();
    expect(await helper.waitForJob(10 * 60 * 1000)).toBe('succeeded');
    await expect(helper.field('pinned')).toContainText(`${REGISTRY}/`);
    pinned = ((await helper.field('pinned').locator('code').textContent()) ?? '').trim();
    expect(pinned).toMatch(/@sha256:[0-9a-f]{64}$/);
    lap('pushed');
    await helper.field('pinned').scrollIntoViewIfNeeded();
    await helper.shot('team-01-push');


    await helper.panel.getByRole('tab', { name: 'Team images' }).click();
    await helper.panel.getByLabel('Search team images').fill(STEM.toUpperCase());
    const item = helper.panel.locator(`li[data-reference*="${STEM}"]`);
    await expect(item).toHaveCount(1, { timeout: 60000 });
    await expect(helper.field('images-count')).toContainText(/^1 of \d+/);
    await expect(item.locator('[data-field="image-packages"]')).not.toBeEmpty();
    lap('listed');
    await helper.shot('team-02-catalog');
    await item.locator('.jp-Containerize-image-head').click();
    await expect(item.locator('[data-field="image-pinned"]')).toHaveText(pinned);
    await helper.shot('team-03-details');

    await item.getByRole('button', { name: 'Pull' }).click();
    expect(await helper.waitForJob(10 * 60 * 1000)).toBe('succeeded');
    await expect(helper.field('pinned')).toContainText(`Pulled: ${pinned}`);
    await expect(helper.field('log')).toContainText('pull: ');
    lap('pulled');
    await helper.shot('team-04-pull');

    await item.getByRole('button', { name: 'Open a kernel' }).click();
    const console_ = page.locator('.jp-CodeConsole').last();
    await expect(console_).toBeVisible({ timeout: 120000 });
    // the kernel runs in a container of the image: wait until it is up before typing
    await expect(page.locator('#jp-main-statusbar')).toContainText(
      new RegExp(`in ${REGISTRY.replace(/\./g, '\\.')}/\\S*${STEM}\\S* \\| Idle`),
      { timeout: 180000 }
    );
    lap('kernel started');
    const prompt = console_.locator('.jp-CodeConsole-promptCell .cm-content');
    await prompt.click();
    await page.keyboard.type('import sys; print(sys.prefix)');
    await expect(prompt).toContainText('print(sys.prefix)');
    await page.keyboard.press('Shift+Enter');
    const output = console_.locator('.jp-CodeConsole-content .jp-OutputArea-output');
    await expect(output.last()).toContainText('/opt/env', { timeout: 180000 });
    lap('kernel answered');
    await helper.shot('team-05-kernel');
    expect(path.basename(pinned)).toContain(STEM);
    await page.kernel.shutdownAll(); // the container of the kernel goes with it

    // Build with "Push to": one job builds (here: reuses) the image and pushes it
    await page.notebook.activate(`${STEM}.ipynb`);
    await helper.panel.getByRole('tab', { name: 'Notebook' }).click();
    const target = `${REGISTRY}/${STEM}-direct/classifier:lab`;
    await build.getByLabel('Push to').fill(target, { timeout: 60000 });
    await build.getByRole('button', { name: 'Build' }).click();
    expect(await helper.waitForJob(10 * 60 * 1000)).toBe('succeeded');
    await expect(helper.field('last-image')).toContainText(`${REGISTRY}/${STEM}-direct/classifier@sha256:`);
    direct = ((await helper.field('last-image').textContent()) ?? '').replace('Last built:', '').trim();
    await build.getByLabel('Push to').fill('');
    lap('built with push');
  });
});
