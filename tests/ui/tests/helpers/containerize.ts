/**
 * Page object of the Containerize panel for Galata tests.
 */
import { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { expect, Locator } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

export const EXAMPLE = path.resolve(
  __dirname,
  '../../../../examples/classifier/classifier.ipynb'
);
export const SHOTS = path.resolve(__dirname, '../../test-results');
export const DOCS_SHOTS = path.resolve(__dirname, '../../../../docs/img');
/** The example pipeline (three notebooks and pipeline.yaml) and the interpreter its steps
 * freeze (the test server sees no user kernelspecs). */
export const PIPELINE_EXAMPLE = path.resolve(__dirname, '../../../../examples/pipeline');
export const EXAMPLE_PYTHON = path.resolve(__dirname, '../../../../.venv-example/bin/python');

export class ContainerizeHelper {
  constructor(readonly page: IJupyterLabPageFixture) {}

  /** Copy the example notebook into the server and open it with its kernel idle. */
  async openExample(dir: string): Promise<string> {
    return this.openNotebook(await this.uploadExample(dir));
  }

  /** Copy the example notebook into the server; its server path. */
  async uploadExample(dir: string): Promise<string> {
    const target = `${dir}/classifier.ipynb`;
    await this.page.contents.uploadFile(EXAMPLE, target);
    return target;
  }

  /** Copy examples/pipeline/ into the server's `dir`, its file naming EXAMPLE_PYTHON as every
   * step's interpreter (and changed by `edit`); the pipeline file's server path. */
  async uploadPipeline(dir: string, edit = (spec: string) => spec): Promise<string> {
    for (const name of fs.readdirSync(PIPELINE_EXAMPLE)) {
      if (name.endsWith('.ipynb')) {
        await this.page.contents.uploadFile(path.join(PIPELINE_EXAMPLE, name), `${dir}/${name}`);
      }
    }
    const spec = fs
      .readFileSync(path.join(PIPELINE_EXAMPLE, 'pipeline.yaml'), 'utf-8')
      .replace('concurrency: 2\n', `concurrency: 2\npython: ${EXAMPLE_PYTHON}\n`);
    const target = `${dir}/pipeline.yaml`;
    await this.page.contents.uploadContent(edit(spec), 'text', target);
    return target;
  }

  /** Open a notebook of the server (the example) and wait for its kernel to be idle. */
  async openNotebook(target: string): Promise<string> {
    await this.page.notebook.openByPath(target);
    await this.page.notebook.activate('classifier.ipynb');
    await this.page
      .locator('#jp-main-statusbar >> text=Idle')
      .waitFor({ timeout: 120000 });
    return target;
  }

  get button(): Locator {
    return this.page
      .locator('.jp-NotebookPanel-toolbar [data-jp-item-name="containerize"]')
      .getByTitle(/^Containerize/);
  }

  get panel(): Locator {
    return this.page.locator('#jp-containerize-panel');
  }

  field(name: string): Locator {
    return this.panel.locator(`[data-field="${name}"]`);
  }

  section(title: string): Locator {
    return this.panel.locator(`section[aria-label="${title}"]`);
  }

  async open(): Promise<void> {
    await this.button.click();
    await expect(this.panel).toBeVisible();
  }

  /** Wait for the followed job to end and return its final status text. */
  async waitForJob(timeout: number): Promise<string> {
    const status = this.field('job-status');
    await expect(status).toHaveText(/succeeded|failed|cancelled|timed out/, { timeout });
    return (await status.textContent()) ?? '';
  }

  /** A screenshot in test-results/; with `docs`, also docs/img/panel-NAME.png. */
  async shot(name: string, docs = false): Promise<void> {
    await this.page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
    if (docs) {
      await this.page.screenshot({ path: path.join(DOCS_SHOTS, `panel-${name}.png`) });
    }
  }
}
