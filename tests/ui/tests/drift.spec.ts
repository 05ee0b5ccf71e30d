/**
 * Drift: the panel compares the notebook's lock with its live kernel, says what changed and
 * offers a rebuild; without a lock it says the notebook is not frozen yet.
 */
import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { ContainerizeHelper } from './helpers/containerize';

const DOCS_IMG = path.resolve(__dirname, '../../../docs/img');

/** The server's file for a server path (the Galata root run.sh exports). */
function serverFile(target: string): string {
  const root = process.env.JUPYTERLAB_GALATA_ROOT_DIR;
  if (!root) {
    throw new Error('JUPYTERLAB_GALATA_ROOT_DIR is not set: run the tests with tests/ui/run.sh');
  }
  return path.join(root, target);
}

/** Freeze the notebook from the server's Python, then pin one package to an older version. */
function writeStaleLock(notebook: string): string {
  execFileSync('jupyter', ['containerize', 'freeze', notebook], { stdio: 'pipe' });
  const lockFile = notebook.replace(/\.ipynb$/, '.lock.json');
  const lock = JSON.parse(fs.readFileSync(lockFile, 'utf-8'));
  const pkg = lock.packages.find(
    (p: { requirement: unknown; name: string }) =>
      typeof p.requirement === 'string' && p.requirement.startsWith(`${p.name}==`)
  );
  const now = pkg.version;
  pkg.version = '0.0.1';
  pkg.requirement = `${pkg.name}==0.0.1`;
  fs.writeFileSync(lockFile, JSON.stringify(lock, null, 2) + '\n');
  return `~ ${pkg.name} 0.0.1 -> ${now}`;
}

test.describe('Containerize drift', () => {
  test('a notebook without a lock is not frozen yet', async ({ page, tmpPath }) => {
    const helper = new ContainerizeHelper(page);
    await helper.openExample(tmpPath);
    await helper.open();
    await expect(helper.field('drift')).toContainText('not frozen yet', { timeout: 60000 });
  });

  test('a stale lock shows what changed and a Rebuild', async ({ page, tmpPath }) => {
    const helper = new ContainerizeHelper(page);
    const target = await helper.uploadExample(tmpPath);
    const change = writeStaleLock(serverFile(target));
    await helper.openNotebook(target);
    await helper.open();

    const warning = helper.section('Lock').locator('.jp-Containerize-drift');
    await expect(warning).toContainText(
      "The kernel's environment has changed since this notebook was frozen:",
      { timeout: 60000 }
    );
    await expect(warning.locator('li', { hasText: change })).toHaveCount(1);
    const rebuild = warning.getByRole('button', { name: 'Rebuild' });
    await expect(rebuild).toBeEnabled();
    await expect(helper.field('python')).toContainText(/^3\./, { timeout: 60000 });
    await warning.scrollIntoViewIfNeeded();
    fs.mkdirSync(DOCS_IMG, { recursive: true });
    await page.screenshot({ path: path.join(DOCS_IMG, 'panel-drift.png') });

    // Rebuild posts a build job with the lock's mode and the kernel (not run here: no engine)
    let posted: any = null;
    await page.route(/\/containerize\/api\/jobs(\?[^/]*)?$/, route => {
      if (route.request().method() !== 'POST') {
        return route.continue();
      }
      posted = route.request().postDataJSON();
      return route.fulfill({
        status: 403,
        contentType: 'application/json',
        body: JSON.stringify({ message: 'stopped by the test', hint: 'none' })
      });
    });
    await rebuild.click();
    await expect.poll(() => posted).not.toBeNull();
    expect(posted.kind).toBe('build');
    expect(posted.notebook).toBe(target);
    expect(posted.options.lock).toBe('full');
    expect(posted.options.kernel_id).toBeTruthy();
  });
});
