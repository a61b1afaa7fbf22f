// Time reports in Debian's chromium: a provider uploads a CSV file with one
// bad row through the plain form, reads the import report (the bad row by its
// line number), then the flags page; every page passes axe (WCAG 2.1 AA), in
// Swedish, English and Norwegian.
//
// Contract with the server (valfri demo):
//   - provider user `omsorgshuset`, password `valfri-demo`, has clients
//     (GET /api/v1/clients lists them with their personnummer)
//   - /provider/visits has a multipart form with a file input #v-file
//   - the report page lists rejections in #rejections-table (line first)
//   - /provider/visits/flags?month=YYYY-MM lists flags in #flags-table

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkA11y, launchBrowser, signIn, startValfri } from './helpers.mjs';

const USER = 'omsorgshuset';
const PASSWORD = 'valfri-demo';

function pad(n) {
  return String(n).padStart(2, '0');
}

describe('provider time reports', { timeout: 300_000 }, () => {
  let valfri;
  let browser;
  let page;
  let month;
  let csv;

  before(async () => {
    valfri = await startValfri({ demo: true });
    browser = await launchBrowser();
    const context = await browser.newContext({ locale: 'sv-SE' });
    page = await context.newPage();

    // Two of the provider's clients, by personnummer, through the API.
    const tok = await fetch(`${valfri.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: USER, password: PASSWORD }),
    }).then((r) => r.json());
    const clients = await fetch(`${valfri.url}/api/v1/clients?limit=5`, {
      headers: { authorization: `Bearer ${tok.token}` },
    }).then((r) => r.json());
    assert.ok(clients.length >= 2, `the demo provider needs two clients: ${JSON.stringify(clients)}`);
    const [a, b] = clients.map((c) => c.person_id);

    // The 1st of this month (a day the demo has reported, or will: either way ours are new ids).
    const now = new Date();
    const day = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-01`;
    month = day.slice(0, 7);
    // Line 1 header; line 2 fine; line 3 a bad time; lines 4 and 5 the same
    // staff member in two homes at once (stored and flagged).
    csv = [
      'external_id;client;service_type;status;planned_start;planned_end;actual_start;actual_end;staff_ref;staff_count',
      `bt-1;${a};personal_care;performed;${day} 10:00;${day} 10:30;${day} 10:00;${day} 10:30;BT-1;1`,
      `bt-2;${a};personal_care;performed;${day} 11:00;${day} 11:30;${day} 11:00;${day} 11:75;BT-1;1`,
      `bt-3;${a};personal_care;performed;${day} 12:00;${day} 12:45;${day} 12:00;${day} 12:45;BT-9;1`,
      `bt-4;${b};personal_care;performed;${day} 12:30;${day} 13:00;${day} 12:30;${day} 13:00;BT-9;1`,
      '',
    ].join('\n');
  }, { timeout: 180_000 });

  after(async () => {
    await browser?.close();
    await valfri?.stop();
  });

  test('the visits page is accessible in every language', async () => {
    await signIn(page, valfri.url, USER, PASSWORD);
    for (const lang of ['sv', 'en', 'nb']) {
      const res = await page.goto(`${valfri.url}/provider/visits?lang=${lang}`);
      assert.equal(res?.status(), 200, `GET /provider/visits?lang=${lang}: HTTP ${res?.status()}`);
      assert.equal(await page.locator('html').getAttribute('lang'), lang);
      assert.equal(await page.getByRole('heading', { level: 1 }).count(), 1);
      await checkA11y(page);
    }
    await page.goto(`${valfri.url}/provider/visits?lang=sv`);
  });

  test('an upload with one bad row is reported by line, and the good rows are kept', async () => {
    await page.goto(`${valfri.url}/provider/visits?month=${month}`);
    await page.locator('#v-file').setInputFiles({ name: 'besok.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    const form = page.locator('form:has(#v-file)');
    await Promise.all([page.waitForNavigation(), form.locator('button[type="submit"]').click()]);
    assert.match(new URL(page.url()).pathname, /^\/provider\/visits\/imports\//);

    const counts = await page.locator('#report-counts').innerText();
    assert.match(counts, /Nya\s+3/, counts);
    assert.match(counts, /Avvisade\s+1/, counts);
    const rows = page.locator('#rejections-table tbody tr');
    assert.equal(await rows.count(), 1);
    const cells = await rows.first().locator('td').allInnerTexts();
    assert.equal(cells[0].trim(), '3', `the bad row is line 3: ${cells}`);
    assert.equal(cells[1].trim(), 'bt-2');
    assert.equal(cells[2].trim(), 'actual_end');
    await checkA11y(page);
  });

  test('the flags page shows the staff member in two homes at once', async () => {
    await Promise.all([page.waitForNavigation(), page.locator('main a[href*="/provider/visits/flags"]').first().click()]);
    assert.equal(new URL(page.url()).pathname, '/provider/visits/flags');
    const table = page.locator('#flags-table');
    assert.ok(await table.isVisible(), 'no flags table');
    const text = await table.innerText();
    assert.match(text, /bt-3/);
    assert.match(text, /bt-4/);
    assert.match(text, /Personal i två hem samtidigt/);
    await checkA11y(page);
    await page.goto(`${valfri.url}/provider/visits/flags?month=${month}&lang=en`);
    assert.match(await page.locator('#flags-table').innerText(), /Staff in two homes at once/);
    await checkA11y(page);
  });

  test('the month shows the stored visits with their flags', async () => {
    await page.goto(`${valfri.url}/provider/visits?month=${month}&flagged=1&lang=sv`);
    const text = await page.locator('#visits-table').innerText();
    assert.match(text, /bt-4/);
    assert.doesNotMatch(text, /bt-2/);
    await checkA11y(page);
  });

  test('a month of visits comes a page at a time', async () => {
    // Last month: the demo has reported every day of it.
    const first = new Date(`${month}-01T12:00:00Z`);
    first.setUTCMonth(first.getUTCMonth() - 1);
    const previous = `${first.getUTCFullYear()}-${pad(first.getUTCMonth() + 1)}`;
    await page.goto(`${valfri.url}/provider/visits?month=${previous}&lang=sv`);
    const pager = page.locator('nav.pager');
    assert.match(await pager.innerText(), /Besök 1–200 av/);
    assert.equal(await page.locator('#visits-table tbody tr').count(), 200);
    await Promise.all([page.waitForNavigation(), pager.getByRole('link', { name: 'Nästa 200 besök' }).click()]);
    assert.match(await page.locator('nav.pager').innerText(), /Besök 201–400 av/);
    assert.ok(await page.locator('nav.pager').getByRole('link', { name: 'Föregående 200 besök' }).isVisible());
    await checkA11y(page);
  });

  test('the admin sees every provider\'s flags', async () => {
    const ctx = await browser.newContext({ locale: 'sv-SE' });
    const admin = await ctx.newPage();
    await signIn(admin, valfri.url, 'admin', PASSWORD);
    const res = await admin.goto(`${valfri.url}/admin/visits/flags?month=${month}`);
    assert.equal(res?.status(), 200);
    assert.match(await admin.locator('#flags-table').innerText(), /bt-3/);
    await checkA11y(admin);
    await ctx.close();
  });
});
