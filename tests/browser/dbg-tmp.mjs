import { launchBrowser, startValfri } from '/work/main/tests/browser/helpers.mjs';
const valfri = await startValfri({ demo: true });
const browser = await launchBrowser();
const page = await (await browser.newContext({ locale: 'sv-SE', javaScriptEnabled: false })).newPage();
page.setDefaultTimeout(10000);
try {
  const res = await page.goto(`${valfri.url}/compare`);
  console.log('status', res.status());
  await page.getByLabel('Postnummer').fill('999 99');
  console.log('filled');
  await page.locator('label', { hasText: 'Personlig omvårdnad' }).click();
  console.log('clicked label');
  const form = page.locator('form[action="/compare"]');
  console.log('buttons', await form.locator('button[type="submit"]').count());
  await Promise.all([page.waitForNavigation(), form.locator('button[type="submit"]').click()]);
  console.log('navigated', page.url());
} catch (e) { console.log('ERR', e.message.slice(0, 1500)); }
await browser.close(); await valfri.stop();
