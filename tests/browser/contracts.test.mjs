// A provider registers and applies (answers every requirement, attaches a
// small PDF), the municipality reviews requirement by requirement, approves
// and activates the contract, and the public comparison then shows the new
// provider for its postcode, in Debian's chromium, with zero axe violations
// (WCAG 2.1 AA) on every page visited. The pages carry no script at all (each
// page is checked), so they work without JavaScript; the browser keeps
// JavaScript on only because axe itself runs as a script.
//
// Contract with the server (valfri demo):
//   - user `admin`, password `valfri-demo`; a choice system `hemtjanst` whose
//     conditions have requirements; area `centrum` with postcode 831 30
//   - /contracts/register, /contracts/apply (multipart), /contracts/{id},
//     /contracts/areas, /compare, /compare/print, /providers/{id}

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkA11y as axe, launchBrowser, signIn, startValfri } from './helpers.mjs';

// Zero axe violations, and no script on the page.
async function checkA11y(page) {
  assert.equal(await page.locator('script').count(), 0, `${page.url()} has a script`);
  await axe(page);
}

const PDF = Buffer.from('%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n');
const NAME = 'Webbtest Omsorg AB';

describe('a provider applies and is approved; citizens compare', { timeout: 420_000 }, () => {
  let valfri;
  let browser;
  let provider;
  let admin;
  let contractUrl;

  before(async () => {
    valfri = await startValfri({ demo: true });
    browser = await launchBrowser();
    provider = await (await browser.newContext({ locale: 'sv-SE' })).newPage();
    admin = await (await browser.newContext({ locale: 'sv-SE' })).newPage();
  }, { timeout: 180_000 });

  after(async () => {
    await browser?.close();
    await valfri?.stop();
  });

  const submit = async (page, form) => {
    await Promise.all([page.waitForNavigation(), form.locator('button[type="submit"]').click()]);
  };

  test('the comparison explains an unknown postcode', async () => {
    const page = provider;
    const res = await page.goto(`${valfri.url}/compare`);
    assert.equal(res?.status(), 200);
    assert.equal(await page.locator('html').getAttribute('lang'), 'sv');
    await checkA11y(page);
    await page.getByLabel('Postnummer').fill('999 99');
    await page.locator('label', { hasText: 'Personlig omvårdnad' }).click();
    await submit(page, page.locator('form[action="/compare"]'));
    const alert = page.getByRole('alert');
    assert.match(await alert.innerText(), /Postnumret finns inte i kommunen/);
    assert.equal(await page.getByLabel('Postnummer').getAttribute('aria-invalid'), 'true');
    await checkA11y(page);
  });

  test('a provider registers', async () => {
    const page = provider;
    await page.goto(`${valfri.url}/contracts/register`);
    await checkA11y(page);
    await page.getByLabel('Företagets namn').fill(NAME);
    await page.getByLabel('Organisationsnummer').fill('559900-1236');
    await page.getByLabel('Ägare', { exact: true }).fill('Familjen Test');
    await page.getByLabel('Beskrivning för brukarna').fill('Hemtjänst med fasta team i centrala Östersund.');
    await page.getByLabel('Språk som personalen talar').fill('sv, so');
    await page.getByLabel('Demens').check();
    await page.getByLabel('E-post').fill('info@webbtest.example');
    await page.getByLabel('Användarnamn').fill('webbtest');
    await page.getByLabel('Lösenord').fill('webbtest-lösen-1');
    await submit(page, page.locator('form[action="/contracts/register"]'));
    assert.equal(new URL(page.url()).pathname, '/contracts/apply');
    await page.getByRole('status').waitFor();
    await checkA11y(page);
  });

  test('the provider answers every requirement and attaches a PDF', async () => {
    const page = provider;
    const form = page.locator('form[action="/contracts/apply"]');
    await form.locator('input[name="services"][value="personal_care"]').check();
    await form.locator('input[name="services"][value="service"]').check();
    await form.locator('input[name="areas"][value="centrum"]').check();
    await form.locator('input[name="capacity_unit"][value="clients"]').check();
    await form.getByLabel('Tak (antal)').fill('40');
    const answers = form.locator('textarea[name^="answer."]');
    const n = await answers.count();
    assert.ok(n >= 1, 'no requirements to answer');
    for (let i = 0; i < n; i++) {
      await answers.nth(i).fill(`Vi uppfyller kravet (svar ${i + 1}).`);
    }
    await form.locator('input[type="file"]').first().setInputFiles({ name: 'forsakringsbesked.pdf', mimeType: 'application/pdf', buffer: PDF });
    await submit(page, form);
    const url = new URL(page.url());
    assert.match(url.pathname, /^\/contracts\/[0-9a-f-]+$/);
    contractUrl = url.pathname;
    assert.match(await page.getByRole('status').innerText(), /Ansökan är skickad/);
    assert.ok(await page.getByRole('link', { name: 'forsakringsbesked.pdf' }).isVisible());
    await checkA11y(page);
    // The evidence downloads as the same file.
    const href = await page.getByRole('link', { name: 'forsakringsbesked.pdf' }).getAttribute('href');
    const file = await page.request.get(`${valfri.url}${href}`);
    assert.equal(file.status(), 200);
    assert.equal(file.headers()['content-type'], 'application/pdf');
    // The provider's list shows its own application only.
    await page.goto(`${valfri.url}/contracts`);
    assert.equal(await page.locator('tbody tr').count(), 1);
    await checkA11y(page);
  });

  test('admin reviews each requirement, approves and activates', async () => {
    const page = admin;
    await signIn(page, valfri.url, 'admin', 'valfri-demo');
    await page.goto(`${valfri.url}/contracts?status=applied`);
    await checkA11y(page);
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: NAME }).click()]);
    assert.equal(new URL(page.url()).pathname, contractUrl);
    await checkA11y(page);
    await submit(page, page.locator('form:has(input[name="to"][value="under_review"])'));
    assert.match(await page.getByRole('status').innerText(), /Granskningen har påbörjats/);
    // One verdict form per requirement; each saves and comes back.
    const verdicts = page.locator('form[action$="/verdict"]');
    const n = await verdicts.count();
    assert.ok(n >= 1);
    for (let i = 0; i < n; i++) {
      const form = page.locator('form[action$="/verdict"]').nth(i);
      await form.locator('input[value="met"]').check();
      await submit(page, form);
    }
    assert.equal(await page.locator('.verdict-met').count(), n);
    await checkA11y(page);
    const approve = page.locator('form[action$="/approve"]');
    await approve.getByLabel('Motivering till beslutet').fill('Samtliga krav är uppfyllda.');
    await submit(page, approve);
    assert.match(await page.getByRole('status').innerText(), /Ansökan är godkänd/);
    await submit(page, page.locator('form:has(input[name="to"][value="active"])'));
    assert.match(await page.locator('.lead .status').innerText(), /Aktiv/);
    // The history names who did what.
    const history = page.locator('table', { has: page.locator('caption', { hasText: 'Vem gjorde vad' }) });
    assert.match(await history.innerText(), /webbtest/);
    assert.match(await history.innerText(), /Samtliga krav är uppfyllda/);
    await checkA11y(page);
  });

  test('the public comparison for the postcode shows the new provider, also in large print', async () => {
    const page = await (await browser.newContext({ locale: 'sv-SE' })).newPage();
    await page.goto(`${valfri.url}/compare`);
    await page.getByLabel('Postnummer').fill('831 30');
    await page.locator('label', { hasText: 'Personlig omvårdnad' }).click();
    await submit(page, page.locator('form[action="/compare"]'));
    const cards = page.locator('.compare-cards > li');
    assert.ok((await cards.count()) >= 2, 'fewer than two providers in Centrum');
    assert.ok(await page.getByRole('link', { name: NAME }).isVisible(), 'the newly approved provider is missing');
    await checkA11y(page);
    // Filter on a language only the new provider speaks.
    await page.getByLabel('Personal som talar').selectOption('so');
    await submit(page, page.locator('form[action="/compare"]'));
    assert.equal(await cards.count(), 1);
    await checkA11y(page);
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: /Utskriftsvänlig/ }).click()]);
    assert.equal(new URL(page.url()).pathname, '/compare/print');
    const size = await page.locator('body').evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
    assert.ok(size >= 24, `large print is ${size}px`);
    assert.match(await page.locator('main').innerText(), new RegExp(NAME));
    await checkA11y(page);
    await page.goto(`${valfri.url}/compare?postcode=83130&services=personal_care&lang=en`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    await checkA11y(page);
    // The provider's own profile (back in Swedish: the language sticks in a cookie).
    await page.goto(`${valfri.url}/compare?postcode=83130&services=personal_care&lang=sv`);
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: NAME }).click()]);
    assert.match(new URL(page.url()).pathname, /^\/providers\//);
    assert.match(await page.locator('main').innerText(), /somaliska/);
    await checkA11y(page);
  });

  test('area closures are listed for admin', async () => {
    const res = await admin.goto(`${valfri.url}/contracts/areas`);
    assert.equal(res?.status(), 200);
    assert.match(await admin.locator('main').innerText(), /Lit/);
    await checkA11y(admin);
  });
});
