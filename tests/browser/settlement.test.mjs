// Monthly settlement in Debian's chromium: the admin reads last month's
// approved settlements and one settlement's lines with their basis, computes
// this month, adjusts a draft and approves it; a provider reads only its own
// statements and downloads the CSV. Every page passes axe (WCAG 2.1 AA).
//
// Contract with the server (valfri demo):
//   - users `admin` and `omsorgshuset` (provider), password `valfri-demo`
//   - the demo has last month settled and approved, this month as drafts
//   - /admin/settlements?month=YYYY-MM lists settlements in #settlements,
//     a settlement page /settlements/{id} its lines in #lines

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkA11y, launchBrowser, signIn, startValfri } from './helpers.mjs';

const PASSWORD = 'valfri-demo';

/** YYYY-MM of today in Stockholm, and the month before. */
function months() {
  const ym = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit' }).format(new Date());
  const [y, m] = ym.split('-').map(Number);
  const prev = m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
  return { current: `${y}-${String(m).padStart(2, '0')}`, previous: prev };
}

describe('monthly settlement', { timeout: 300_000 }, () => {
  let valfri;
  let browser;
  let admin;
  const { current, previous } = months();
  // Provider name → settlement page path, of last month.
  const pages = new Map();

  before(async () => {
    valfri = await startValfri({ demo: true });
    browser = await launchBrowser();
    admin = await (await browser.newContext({ locale: 'sv-SE' })).newPage();
    await signIn(admin, valfri.url, 'admin', PASSWORD);
  }, { timeout: 180_000 });

  after(async () => {
    await browser?.close();
    await valfri?.stop();
  });

  test("last month is approved and each line shows its basis", async () => {
    const res = await admin.goto(`${valfri.url}/admin/settlements?month=${previous}`);
    assert.equal(res?.status(), 200);
    assert.equal(await admin.locator('html').getAttribute('lang'), 'sv');
    const rows = admin.locator('#settlements tbody tr');
    assert.ok((await rows.count()) >= 2, 'the demo has several providers');
    assert.match(await admin.locator('#settlements tbody').innerText(), /Godkänd/);
    for (const link of await admin.locator('#settlements tbody a').all()) {
      pages.set((await link.innerText()).trim(), await link.getAttribute('href'));
    }
    await checkA11y(admin);

    await admin.goto(`${valfri.url}${pages.get('Omsorgshuset Jämtland AB')}`);
    const lines = admin.locator('#lines tbody tr');
    assert.ok((await lines.count()) >= 1, 'the provider has lines last month');
    // The basis: a quantity times a rate, e.g. "45 min × 414,80 kr/tim".
    assert.match(await lines.first().innerText(), /×/);
    assert.match(await admin.locator('main').innerText(), /Kontrollsumma/);
    await checkA11y(admin);
  });

  test("a large settlement's lines come a page at a time", async () => {
    // The municipal unit has thousands of lines a month in the demo.
    await admin.goto(`${valfri.url}${pages.get('Östersunds kommun, hemtjänsten')}`);
    const pager = admin.locator('nav.pager').first();
    assert.match(await pager.innerText(), /Rad 1–500 av/);
    assert.equal(await admin.locator('#lines tbody tr').count(), 500);
    await Promise.all([admin.waitForNavigation(), pager.getByRole('link', { name: 'Nästa 500 rader' }).click()]);
    assert.match(await admin.locator('nav.pager').first().innerText(), /Rad 501–1\u202f000 av/);
    assert.match(await admin.locator('#lines tbody tr').first().innerText(), /^501\b/);
    await checkA11y(admin);
  });

  test('the admin computes this month, adjusts a draft and approves it', async () => {
    await admin.goto(`${valfri.url}/admin/settlements?month=${current}`);
    await Promise.all([admin.waitForNavigation(), admin.locator('form[action="/admin/settlements/compute"] button').click()]);
    assert.match(await admin.locator('[role="status"]').innerText(), /beräknad/);
    await checkA11y(admin);

    const draft = admin.locator('#settlements tbody tr', { hasText: 'Utkast' }).first();
    await Promise.all([admin.waitForNavigation(), draft.locator('a').click()]);
    await checkA11y(admin);
    await admin.locator('#adj-amount').fill('-150');
    await admin.locator('#adj-reason').fill('Avdrag enligt avtal');
    await Promise.all([admin.waitForNavigation(), admin.locator('form[action$="/adjustments"] button[type="submit"]').click()]);
    assert.match(await admin.locator('[role="status"]').innerText(), /Justeringen är tillagd/);
    assert.match(await admin.locator('main').innerText(), /Avdrag enligt avtal/);
    await checkA11y(admin);

    // A bad amount is refused with the reason, and the form keeps what was typed.
    await admin.locator('#adj-amount').fill('tolv');
    await admin.locator('#adj-reason').fill('Fel');
    await Promise.all([admin.waitForNavigation(), admin.locator('form[action$="/adjustments"] button[type="submit"]').click()]);
    assert.ok(await admin.locator('[role="alert"]').isVisible());
    assert.equal(await admin.locator('#adj-reason').inputValue(), 'Fel');
    await checkA11y(admin);

    const approve = admin.locator('form[action$="/approve"] button');
    if ((await approve.count()) > 0) {
      await Promise.all([admin.waitForNavigation(), approve.click()]);
      assert.match(await admin.locator('[role="status"]').innerText(), /godkänd/);
      assert.equal(await admin.locator('form[action$="/adjustments"]').count(), 0, 'an approved settlement takes no adjustments');
    }
  });

  test('the pages are in English too', async () => {
    await admin.goto(`${valfri.url}/admin/settlements?month=${previous}&lang=en`);
    assert.equal(await admin.locator('html').getAttribute('lang'), 'en');
    assert.match(await admin.locator('h1').innerText(), /Settlement/);
    await checkA11y(admin);
    await admin.goto(`${valfri.url}/admin/settlements/config?lang=en`);
    assert.ok(await admin.locator('#cfg-expense_account').isVisible());
    await checkA11y(admin);
    await admin.goto(`${valfri.url}/admin/settlements?lang=sv`);
  });

  test('a provider sees its own statements only', async () => {
    const page = await (await browser.newContext({ locale: 'sv-SE' })).newPage();
    await signIn(page, valfri.url, 'omsorgshuset', PASSWORD);
    const res = await page.goto(`${valfri.url}/provider/settlements`);
    assert.equal(res?.status(), 200);
    const rows = page.locator('tbody tr');
    assert.ok((await rows.count()) >= 1, 'last month is approved');
    await checkA11y(page);

    const csvLink = rows.first().locator('a[href$="statement.csv"]');
    const csv = await page.request.get(`${valfri.url}${await csvLink.getAttribute('href')}`);
    assert.equal(csv.status(), 200);
    assert.match(csv.headers()['content-type'], /text\/csv/);
    const text = await csv.text();
    assert.ok(text.startsWith('\ufeffrecord;month;provider_id'), text.slice(0, 80));

    await Promise.all([page.waitForNavigation(), rows.first().locator('a').first().click()]);
    assert.ok((await page.locator('#lines tbody tr').count()) >= 1);
    assert.equal(await page.locator('form[action$="/approve"]').count(), 0, 'a provider cannot approve');
    await checkA11y(page);

    // Another provider's settlement is not there for it.
    const other = pages.get('Storsjö Hemtjänst AB');
    assert.ok(other, `no settlement for another provider in ${[...pages.keys()]}`);
    const denied = await page.goto(`${valfri.url}${other}`);
    assert.equal(denied?.status(), 404);
  });
});
