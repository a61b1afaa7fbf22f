// The citizen's choice, end to end in Debian's chromium: the demo citizen
// `brukare` signs in, looks at their providers, compares the providers for
// their postcode, chooses a new one without JavaScript, sees the date it
// takes effect and prints the confirmation letter. Every page visited must
// have zero axe violations (WCAG 2.1 AA), in Swedish and in English.
//
// Contract with the server (valfri demo):
//   - user `brukare` (citizen), password `valfri-demo`, bound to a demo client
//     with a provider and at least one other eligible provider in their area
//   - /my, /my/choose (a form per service group: radio buttons named
//     provider_id and a submit button), /compare?postcode=…, /letters/choice/{id}

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkA11y, launchBrowser, signIn, startValfri } from './helpers.mjs';

describe('the citizen chooses a provider', { timeout: 300_000 }, () => {
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

  test('the choose page asks the citizen to sign in', async () => {
    const res = await fetch(`${valfri.url}/my/choose`, { redirect: 'manual' });
    assert.ok(res.status >= 300 && res.status < 400, `expected a redirect, got HTTP ${res.status}`);
    assert.equal(new URL(res.headers.get('location'), valfri.url).pathname, '/login');
  });

  test('the citizen sees their providers', async () => {
    await signIn(page, valfri.url, 'brukare', 'valfri-demo');
    const res = await page.goto(`${valfri.url}/my`);
    assert.equal(res?.status(), 200);
    assert.equal(await page.locator('html').getAttribute('lang'), 'sv');
    await page.getByRole('heading', { level: 1, name: 'Mina utförare' }).waitFor();
    const rows = page.locator('table').first().locator('tbody tr');
    assert.ok((await rows.count()) >= 1, 'no current provider listed');
    await checkA11y(page);
  });

  test('the citizen compares the providers for their postcode', async () => {
    await page.goto(`${valfri.url}/my/choose`);
    await checkA11y(page);
    const compare = page.locator('a[href^="/compare?postcode="]').first();
    const href = await compare.getAttribute('href');
    assert.match(href, /postcode=\d{5}/);
    await Promise.all([page.waitForNavigation(), compare.click()]);
    assert.equal(new URL(page.url()).pathname, '/compare');
    assert.equal((await page.goto(page.url()))?.status(), 200);
    assert.ok((await page.getByRole('heading', { level: 1 }).count()) >= 1);
    await checkA11y(page);
  });

  let letterUrl;

  test('the citizen chooses another provider, without JavaScript', async () => {
    await page.goto(`${valfri.url}/my/choose`);
    // Nothing to run: the form is plain HTML (axe needs JavaScript on, so it stays on).
    assert.equal(await page.locator('script').count(), 0, 'the choose page has scripts');
    // The first form with a provider that is not already the citizen's choice.
    const forms = page.locator('form:has(input[name="provider_id"])');
    const n = await forms.count();
    assert.ok(n >= 1, 'no service group to choose for');
    let chosen = null;
    for (let i = 0; i < n && !chosen; i++) {
      const form = forms.nth(i);
      const free = form.locator('input[name="provider_id"]:not([checked])');
      if ((await free.count()) > 0) {
        const radio = free.first();
        const id = await radio.getAttribute('id');
        // Choose by the visible label, as a person would.
        await form.locator(`label[for="${id}"]`).click();
        assert.ok(await radio.isChecked());
        chosen = form;
      }
    }
    assert.ok(chosen, 'every group offers only the current provider');
    await Promise.all([page.waitForNavigation(), chosen.locator('button[type="submit"]').click()]);
    assert.match(new URL(page.url()).search, /chosen=/);
    const status = page.getByRole('status');
    await status.waitFor();
    // "… Utföraren börjar den 24 mars 2026." – a date in words.
    assert.match(await status.innerText(), /börjar den \d{1,2} \p{L}+ \d{4}/u);
    await checkA11y(page);
    letterUrl = await status.locator('a[href^="/letters/choice/"]').getAttribute('href');
    assert.ok(letterUrl, 'no link to the letter');
  });

  test('the confirmation letter renders in large type', async () => {
    const res = await page.goto(`${valfri.url}${letterUrl}`);
    assert.equal(res?.status(), 200);
    const h1 = page.getByRole('heading', { level: 1 });
    assert.equal((await h1.innerText()).trim(), 'Bekräftelse av ditt val av utförare');
    const size = await page.locator('article.letter').evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
    assert.ok(size >= 20, `letter type is ${size}px`);
    assert.match(await page.locator('article.letter').innerText(), /Telefon/);
    await checkA11y(page);
  });

  test('the pending switch shows on /my, and the pages work in English', async () => {
    await page.goto(`${valfri.url}/my`);
    const pending = page.locator('section[aria-labelledby="my-pending"] tbody tr');
    assert.ok((await pending.count()) >= 1, 'the switch is not listed as pending');
    for (const path of ['/my?lang=en', '/my/choose?lang=en', `${letterUrl}?lang=en`]) {
      const res = await page.goto(`${valfri.url}${path}`);
      assert.equal(res?.status(), 200, path);
      assert.equal(await page.locator('html').getAttribute('lang'), 'en', path);
      await checkA11y(page);
    }
  });

  test('a case officer works the re-choice tasks and chooses on a client\'s behalf', async () => {
    await signIn(page, valfri.url, 'handlaggare', 'valfri-demo');
    const res = await page.goto(`${valfri.url}/tasks?lang=sv`);
    assert.equal(res?.status(), 200);
    const rows = page.locator('tbody tr');
    assert.ok((await rows.count()) >= 1, 'the demo has open re-choice tasks');
    await checkA11y(page);
    const client = rows.first().locator('a[href$="/choose"]');
    await Promise.all([page.waitForNavigation(), client.click()]);
    assert.match(new URL(page.url()).pathname, /^\/clients\/[^/]+\/choose$/);
    await checkA11y(page);
    // Submitting without picking (the browser's own check switched off) names the problem next to the group.
    const form = page.locator('form:has(input[name="provider_id"])').first();
    await form.evaluate((f) => f.querySelectorAll('input[type="radio"]').forEach((e) => {
      e.removeAttribute('required');
      e.checked = false;
    }));
    await Promise.all([page.waitForNavigation(), form.locator('button[type="submit"]').click()]);
    const alert = page.getByRole('alert');
    assert.match(await alert.first().innerText(), /Välj en utförare i listan först/);
    const describedBy = await page.locator('fieldset[aria-describedby^="err-"]').first().getAttribute('aria-describedby');
    assert.ok(describedBy, 'the error is not linked to the radio group');
    await checkA11y(page);
  });
});
