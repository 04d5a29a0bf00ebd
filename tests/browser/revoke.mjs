// An RA officer signs in, finds an active certificate by the holder's ID number, revokes it
// with a reason after the confirmation step, and sees it revoked.
import { check, env, operatorFromEnv, scenario, signIn } from './lib.mjs';

await scenario('revoke', async ({ page, base, shot }) => {
  await signIn(page, base, operatorFromEnv(), shot);
  await page.click('nav a[href="/certificates"]');
  await page.fill('input[name="id_number"]', env('ID_NUMBER'));
  await page.click('form.filters button[type="submit"]');
  const serial = env('SERIAL');
  await Promise.all([page.waitForURL(`${base}/certificates/${serial}`), page.click(`a[href="/certificates/${serial}"]`)]);
  check((await page.getAttribute('#certificate-status', 'data-status')) === 'active', 'active before');
  await shot('active');

  // The page frames two PDFs below the fold; scroll to the action first (a click that
  // scrolls past the viewers did not reach the link) and wait for the change page.
  await page.locator('#action-revoke').scrollIntoViewIfNeeded();
  await Promise.all([page.waitForURL(`${base}/certificates/${serial}/change/revoke*`), page.click('#action-revoke')]);
  await page.selectOption('select[name="reason"]', 'keyCompromise');
  await page.fill('textarea[name="note"]', 'Thuê bao báo mất điện thoại');
  await page.click('form.stack button[type="submit"]');
  await page.locator('#confirm-step').waitFor();
  await shot('confirm');
  // Nothing changed before the confirmation.
  await Promise.all([page.waitForURL(`${base}/certificates/${serial}*`), page.click('#confirm-button')]);
  check((await page.getAttribute('#certificate-status', 'data-status')) === 'revoked', 'revoked after');
  check((await page.content()).includes('Lộ khoá bí mật'), 'the reason is shown in words');
});
