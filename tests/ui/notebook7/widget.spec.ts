/**
 * Notebook 7: `%containerize` alone shows the ipywidgets panel in the page, with the kernel's
 * environment; its Build button builds the notebook's image against the real engine.
 * The server (notebook7_server_config.py) holds a copy of the example whose kernel is python3.
 */
import { APIRequestContext, expect, Locator, Page, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

const NOTEBOOK = 'classifier.ipynb';
const SHOTS = path.resolve(__dirname, '../test-results');
const DOCS_IMG = path.resolve(__dirname, '../../../docs/img');

// an "imported" lock keeps the image to what the kernel has imported (the test kernel is the
// development virtualenv: a full lock would freeze every tool in it)
const CELL = [
  '%load_ext jupyter_containerize',
  '%config ContainerizeMagics.lock_mode = "imported"',
  '%containerize'
];

/** Wait until the notebook's kernel exists and is idle (REST, with the token header). */
async function kernelIdle(request: APIRequestContext): Promise<void> {
  await expect
    .poll(
      async () => {
        const sessions = await (await request.get('/api/sessions')).json();
        const session = sessions.find((s: any) => s.path === NOTEBOOK);
        return session?.kernel?.execution_state ?? 'no session';
      },
      { timeout: 120000, intervals: [500, 1000] }
    )
    .toBe('idle');
}

/** Insert a code cell at the top of the notebook, type the lines and run it; the new cell. */
async function runNewCell(page: Page, lines: string[]): Promise<Locator> {
  const cells = page.locator('.jp-Notebook .jp-Cell');
  await cells.first().click();
  await page.keyboard.press('Escape');
  await page.keyboard.press('a');
  const cell = cells.first();
  await expect(cell).toHaveClass(/jp-CodeCell/);
  await page.keyboard.press('Enter');
  const editor = cell.locator('.cm-content');
  for (const [i, line] of lines.entries()) {
    if (i > 0) {
      await page.keyboard.press('Enter');
    }
    await page.keyboard.type(line);
  }
  await expect(editor).toContainText('%containerize');
  await page.keyboard.press('Shift+Enter');
  return cell;
}

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

test('the %containerize panel renders and builds under Notebook 7', async ({ page, request }) => {
  await page.goto(`/notebooks/${NOTEBOOK}`);
  await expect(page.locator('.jp-Notebook .jp-Cell').first()).toBeVisible({ timeout: 60000 });
  await kernelIdle(request);

  const cell = await runNewCell(page, CELL);
  const output = cell.locator('.jp-OutputArea-output');
  // (the buttons' accessible names start with their icon glyph: match the text instead)
  const button = (text: string) =>
    output.locator('button.widget-button', { hasText: new RegExp(`^\\s*${text}\\s*$`) });
  const build = button('Build');
  await expect(build).toBeVisible({ timeout: 60000 });
  await expect(button('Push')).toBeVisible();
  await expect(output.locator('.widget-html', { hasText: /Python\s+3\.\d+/ })).toBeVisible();
  await expect(output.locator('input').first()).toHaveValue(/classifier\.ipynb$/);
  await shot(page, 'notebook7-01-panel');

  await build.click();
  // the image line, or the panel's one-line error (shown in the failure message)
  const image = output.locator('.widget-html', { hasText: /Image\s/ });
  const error = output.locator('.widget-html', { hasText: /error: / });
  await expect(image.or(error)).toBeVisible({ timeout: 4 * 60 * 1000 });
  expect(await error.count(), (await error.allTextContents()).join('\n')).toBe(0);
  await expect(image.locator('code')).toContainText('classifier');
  await expect(output.locator('.widget-label', { hasText: 'build done' })).toBeVisible();
  await expect(build).toBeEnabled();

  await image.scrollIntoViewIfNeeded();
  await shot(page, 'notebook7-02-built');
  fs.mkdirSync(DOCS_IMG, { recursive: true });
  await page.screenshot({ path: path.join(DOCS_IMG, 'notebook7-widget.png') });
});
