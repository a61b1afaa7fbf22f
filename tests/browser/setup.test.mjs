// The admin setup page, end to end in Debian's chromium: sign-in, the page's
// language and structure, accessibility (axe, WCAG 2.1 AA), and switching
// from Swedish (the default) to English.
//
// Contract with the server (valfri demo):
//   - user `admin`, password `valfri-demo` exists in the demo data
//   - GET /admin/setup without a session redirects to /login
//   - /login has a form with inputs named username/password and a submit button
//   - /admin/setup has <html lang="sv">, one <h1>, a table of rates, and a
//     link with hreflang="en" (or accepts ?lang=en) that renders it in English

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkA11y, launchBrowser, signIn, startValfri } from './helpers.mjs';

describe('admin setup page', { timeout: 300_000 }, () => {
  let valfri;
  let browser;
  let page;

  before(async () => {
    valfri = await startValfri({ demo: true });
    browser = await launchBrowser();
    const context = await browser.newContext({ locale: 'sv-SE' });
    page = await context.newPage();
  }, { timeout: 180_000 });

  after(async () => {
    await browser?.close();
    await valfri?.stop();
  });

  test('unauthenticated GET /admin/setup redirects to /login', async () => {
    const res = await fetch(`${valfri.url}/admin/setup`, { redirect: 'manual' });
    assert.ok(
      res.status >= 300 && res.status < 400,
      `expected a redirect, got HTTP ${res.status}`,
    );
    const location = res.headers.get('location');
    assert.ok(location, 'redirect has no Location header');
    assert.equal(new URL(location, valfri.url).pathname, '/login');
  });

  test('login page is accessible', async () => {
    await page.goto(`${valfri.url}/login`);
    await checkA11y(page);
  });

  test('admin signs in and sees the setup page in Swedish', async () => {
    await signIn(page, valfri.url, 'admin', 'valfri-demo');
    const res = await page.goto(`${valfri.url}/admin/setup`);
    assert.equal(res?.status(), 200, `GET /admin/setup: HTTP ${res?.status()}`);
    assert.equal(new URL(page.url()).pathname, '/admin/setup', 'was redirected away: not signed in?');

    assert.equal(await page.locator('html').getAttribute('lang'), 'sv');

    const h1 = page.getByRole('heading', { level: 1 });
    assert.ok((await h1.count()) >= 1, 'no <h1> on the page');
    assert.ok(await h1.first().isVisible(), '<h1> is not visible');
    assert.notEqual((await h1.first().innerText()).trim(), '', '<h1> is empty');

    // A table of rates: a visible table with a header and at least one data
    // row that contains a number.
    const table = page.locator('table').filter({ has: page.locator('th') }).first();
    assert.ok(await table.isVisible(), 'no visible <table> with headers on the setup page');
    const rows = table.locator('tr').filter({ has: page.locator('td') });
    assert.ok((await rows.count()) >= 1, 'the rates table has no data rows');
    assert.match(await rows.first().innerText(), /\d/, 'the first rate row shows no number');

    await checkA11y(page);
  });

  test('the setup page switches to English', async (t) => {
    const en = page.locator('a[hreflang="en"]');
    if ((await en.count()) > 0) {
      await Promise.all([page.waitForNavigation(), en.first().click()]);
    } else {
      t.diagnostic('no a[hreflang="en"] link; using ?lang=en');
      await page.goto(`${valfri.url}/admin/setup?lang=en`);
    }
    assert.equal(new URL(page.url()).pathname, '/admin/setup');
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    await checkA11y(page);
  });
});
