/**
 * The pipeline view: "Containerize: Run pipeline" on a pipeline file of the file browser runs
 * it and shows its graph, each step's state as it runs, its log and its outputs.
 */
import { expect, test } from '@jupyterlab/galata';

import { ContainerizeHelper } from './helpers/containerize';

test.describe('Pipeline view', () => {
  test('runs the example pipeline from the file browser', async ({ page, tmpPath }) => {
    const helper = new ContainerizeHelper(page);
    await helper.uploadPipeline(`${tmpPath}/pipe`);
    await page.filebrowser.openDirectory(`${tmpPath}/pipe`);

    // the command shows for a pipeline file only
    const file = page.locator('.jp-DirListing-item[data-file-type="yaml"]', {
      hasText: 'pipeline.yaml'
    });
    // every state a step's box shows, in order (the steps of the example take seconds)
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as any).containerizeSeen = seen;
      new MutationObserver(() => {
        document.querySelectorAll('.jp-Containerize-graph g[data-step]').forEach(g => {
          const state = `${g.getAttribute('data-step')}:${g.getAttribute('data-status')}`;
          if (!seen.includes(state)) {
            seen.push(state);
          }
        });
      }).observe(document.body, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: ['data-status']
      });
    });
    await file.click({ button: 'right' });
    // beside it, the same pipeline as Docker Swarm jobs
    await expect(
      page.locator('.lm-Menu-item[data-command="containerize:run-pipeline-swarm"]')
    ).toContainText('Containerize: Run pipeline on Docker Swarm');
    await page.locator('.lm-Menu-item[data-command="containerize:run-pipeline"]').click();

    const view = page.locator('.jp-Containerize-pipeline');
    await expect(view).toBeVisible();
    await expect(page.locator('.lm-TabBar-tab', { hasText: 'Pipeline: line-fit' })).toBeVisible();
    const nodes = view.locator('.jp-Containerize-graph g[data-step]');
    await expect(nodes).toHaveCount(3, { timeout: 60000 });
    await expect(nodes.locator('.jp-Containerize-node-name')).toHaveText([
      'prepare',
      'train',
      'report'
    ]);
    // its needs: prepare -> train -> report
    await expect(view.locator('.jp-Containerize-edge')).toHaveCount(2);
    await expect(view.locator('[data-edge="prepare->train"]')).toHaveCount(1);
    await expect(view.locator('[data-edge="train->report"]')).toHaveCount(1);

    // every step succeeds, each shown running before
    for (const step of ['prepare', 'train', 'report']) {
      await expect(view.locator(`g[data-step="${step}"]`)).toHaveAttribute(
        'data-status',
        'succeeded',
        { timeout: 10 * 60 * 1000 }
      );
    }
    await expect(view.locator('[data-field="pipeline-status"]')).toHaveText('succeeded');
    const seen: string[] = await page.evaluate(() => (window as any).containerizeSeen);
    for (const step of ['prepare', 'train', 'report']) {
      expect(seen).toContain(`${step}:running`);
      expect(seen.indexOf(`${step}:running`)).toBeLessThan(seen.indexOf(`${step}:succeeded`));
    }
    // train waited for prepare: it was pending while prepare ran
    expect(seen).toContain('train:pending');
    await expect(view.locator('tr[data-step="report"] [data-field="step-outputs"]')).toHaveText(
      'report.txt'
    );
    await expect(view.getByRole('button', { name: 'Resume' })).toHaveCount(0);

    // a step's log and outputs
    await view.locator('g[data-step="report"]').click();
    const details = view.locator('section[aria-label="Step report"]');
    await expect(details.locator('[data-field="step-status"]')).toHaveText('succeeded');
    await expect(details.locator('[data-field="step-output"]')).toContainText(
      'report.out.ipynb'
    );
    await expect(details.locator('[data-field="step-outputs"]')).toContainText('report.txt');
    await expect(details.locator('[data-field="step-log"]')).not.toHaveText(
      /^(|Reading the log…|This step has not started\.)$/,
      { timeout: 30000 }
    );
    await helper.shot('08-pipeline', true);
  });

  test('a failed pipeline started from the palette resumes', async ({ page, tmpPath }) => {
    const helper = new ContainerizeHelper(page);
    const dir = `${tmpPath}/pipe`;
    const tooMany = (spec: string) => spec.replace('min_rows: 10', 'min_rows: 1000');
    await helper.uploadPipeline(dir, tooMany);
    await page.filebrowser.openDirectory(dir);
    await page.locator('.jp-DirListing-item', { hasText: 'pipeline.yaml' }).click();

    await page.keyboard.press('Control+Shift+C');
    await page.locator('.lm-CommandPalette-input').fill('Run pipeline');
    await page
      .locator('.lm-CommandPalette-item[data-command="containerize:run-pipeline"]')
      .click();

    const view = page.locator('.jp-Containerize-pipeline');
    const status = view.locator('[data-field="pipeline-status"]');
    await expect(status).toHaveText('failed', { timeout: 10 * 60 * 1000 });
    const failed = await view.getAttribute('data-job');
    await expect(view.locator('g[data-step="prepare"]')).toHaveAttribute('data-status', 'succeeded');
    await expect(view.locator('g[data-step="train"]')).toHaveAttribute('data-status', 'failed');
    await expect(view.locator('g[data-step="report"]')).toHaveAttribute('data-status', 'not run');
    // train was tried twice (retries: 1); its error is the notebook's
    await expect(view.locator('tr[data-step="train"] td').nth(3)).toHaveText('2');
    await view.locator('g[data-step="train"]').click();
    const details = view.locator('section[aria-label="Step train"]');
    await expect(details.locator('.jp-Containerize-error')).toContainText(
      'only 20 rows, need at least 1000'
    );
    await expect(details.locator('[data-field="step-log"]')).toContainText('ValueError', {
      timeout: 30000
    });

    // the fix, then Resume: prepare is reused, the rest runs
    await helper.uploadPipeline(dir);
    await view.getByRole('button', { name: 'Resume' }).click();
    await expect(view).not.toHaveAttribute('data-job', failed ?? '');
    await expect(status).toHaveText('succeeded', { timeout: 10 * 60 * 1000 });
    await expect(view).toContainText(`resuming ${failed}`);
    await expect(view.locator('tr[data-step="prepare"] [data-field="step-status"]')).toHaveText(
      'succeeded (reused)'
    );
    for (const step of ['train', 'report']) {
      await expect(view.locator(`g[data-step="${step}"]`)).toHaveAttribute(
        'data-status',
        'succeeded'
      );
    }
    await expect(view.getByRole('button', { name: 'Resume' })).toHaveCount(0);
  });

  test('a pipeline file with a mistake fails in one line, nothing run', async ({
    page,
    tmpPath
  }) => {
    const helper = new ContainerizeHelper(page);
    const dir = `${tmpPath}/pipe`;
    await helper.uploadPipeline(dir, spec => spec.replace('needs: [prepare]', 'need: [prepare]'));
    await page.filebrowser.openDirectory(dir);
    await page
      .locator('.jp-DirListing-item[data-file-type="yaml"]', { hasText: 'pipeline.yaml' })
      .click({ button: 'right' });
    await page.locator('.lm-Menu-item[data-command="containerize:run-pipeline"]').click();

    const view = page.locator('.jp-Containerize-pipeline');
    await expect(view.locator('[data-field="pipeline-status"]')).toHaveText('failed', {
      timeout: 60000
    });
    const error = view.locator('[data-field="pipeline-error"]');
    await expect(error).toContainText("unknown key 'need'");
    await expect(error).toContainText("did you mean 'needs'?");
    expect(((await error.textContent()) ?? '').includes('Traceback')).toBe(false);
    // no graph of a file that was refused, no step ran, and nothing to resume
    await expect(view.locator('.jp-Containerize-graph')).toHaveCount(0);
    await expect(view.getByRole('button', { name: 'Resume' })).toHaveCount(0);
    const runs = await (await page.request.get('/containerize/api/jobs?kind=run')).json();
    expect(runs.jobs.filter((j: { path: string }) => j.path?.startsWith(dir))).toEqual([]);
  });
});
