// Galata's Playwright configuration, driving Debian's chromium (CHROMIUM_PATH) headless.
const base = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.CONTAINERIZE_UI_PORT || '18300';
const token = process.env.JLAB_TEST_TOKEN || 'containerize-ui-token';

module.exports = {
  ...base,
  testIgnore: ['notebook7/**'], // the Notebook 7 tests: playwright-notebook7.config.js
  timeout: 15 * 60 * 1000,
  expect: { timeout: 30000 },
  retries: 0,
  workers: 1,
  reporter: [['list'], ['html', { open: 'never' }]],
  use: {
    ...base.use,
    video: 'off',
    viewport: { width: 1400, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    baseURL: `http://127.0.0.1:${port}`,
    extraHTTPHeaders: { Authorization: `token ${token}` },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  webServer: {
    command: 'jupyter lab --config jupyter_server_test_config.py',
    url: `http://127.0.0.1:${port}/api/status`,
    timeout: 120000,
    reuseExistingServer: !process.env.CI,
    env: { ...process.env, JLAB_TEST_TOKEN: token, CONTAINERIZE_UI_PORT: port }
  }
};
