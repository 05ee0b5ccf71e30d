/**
 * Page object of the Containerize panel for Galata tests.
 */
import { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { expect, Locator } from '@playwright/test';
import * as path from 'path';

export const EXAMPLE = path.resolve(
  __dirname,
  '../../../../examples/classifier/classifier.ipynb'
);
export const SHOTS = path.resolve(__dirname, '../../test-results');

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

  async shot(name: string): Promise<void> {
    await this.page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  }
}
