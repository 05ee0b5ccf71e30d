// The %containerize widget panel under Notebook 7 (plain Playwright: Galata's helpers are
// JupyterLab's). Same Debian chromium and launch options as the Lab tests; its own server.
const lab = require('./playwright.config');

const port = process.env.CONTAINERIZE_NB7_PORT || '18310';
const token = process.env.JLAB_TEST_TOKEN || 'containerize-ui-token';

// the kernel inherits the server's environment: what it builds carries this run's label,
// so run.sh (and the pytest session) remove it at the end
const runLabel = process.env.JC_TEST_RUN_ID
  ? `io.jupyter-containerize.test-run=${process.env.JC_TEST_RUN_ID}`
  : '';
const labels = [process.env.JUPYTER_CONTAINERIZE_LABELS, runLabel].filter(Boolean).join(',');

module.exports = {
  testDir: './notebook7',
  outputDir: './test-results/notebook7',
  timeout: 5 * 60 * 1000,
  expect: { timeout: 30000 },
  retries: 0,
  workers: 1,
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report/notebook7' }]],
  use: {
    video: 'off',
    viewport: { width: 1400, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    baseURL: `http://127.0.0.1:${port}`,
    extraHTTPHeaders: { Authorization: `token ${token}` },
    launchOptions: lab.use.launchOptions
  },
  webServer: {
    command: 'jupyter notebook --config notebook7_server_config.py',
    url: `http://127.0.0.1:${port}/api/status`,
    timeout: 120000,
    reuseExistingServer: !process.env.CI,
    env: {
      ...process.env,
      JLAB_TEST_TOKEN: token,
      CONTAINERIZE_NB7_PORT: port,
      JUPYTER_CONTAINERIZE_LABELS: labels
    }
  }
};
