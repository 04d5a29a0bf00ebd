// An operator enrols a citizen at the counter: the first attempt shows the server's validation
// message next to the form, the corrected one registers the application, then a scan of the ID
// card is uploaded to the dossier.
import { check, env, operatorFromEnv, scenario, signIn, signPad } from './lib.mjs';

await scenario('counter', async ({ page, base, shot }) => {
  await signIn(page, base, operatorFromEnv(), shot);
  await page.click('nav a[href="/counter"]');
  const fill = async (name, value) => page.fill(`[name="${name}"]`, value);
  await fill('identity.id_number', '001195000777');
  await fill('identity.full_name', 'Lê Thị Hoa');
  // The ID number says born in 1995; this date of birth says 1985.
  await fill('identity.date_of_birth', '07/03/1985');
  await page.selectOption('[name="identity.sex"]', 'female');
  await fill('identity.id_issue_date', '10/03/2022');
  await fill('identity.id_issue_place', 'Cục Cảnh sát QLHC về TTXH');
  await fill('identity.permanent_address.line', 'Số 8 phố Lý Thường Kiệt');
  // Province and ward come from the official lists: the ward list follows the province.
  await page.selectOption('[name="identity.permanent_address.province"]', 'Thành phố Hà Nội');
  const offered = await page.$$eval('#permanent-ward optgroup:not([hidden])', (gs) => gs.map((g) => g.label));
  check(offered.length === 1 && offered[0] === 'Thành phố Hà Nội', `only Hà Nội's wards offered: ${offered}`);
  await page.selectOption('[name="identity.permanent_address.ward"]', 'Phường Cửa Nam');
  await fill('contact.phone', '0987654321');
  // The citizen's consent: their own signature under the consent text.
  await signPad(page);
  await page.click('#counter-submit');
  const errors = page.locator('#counter-errors');
  await errors.waitFor();
  const text = await errors.textContent();
  check(text.includes(env('EXPECTED_ERROR')), `the API's message for the ID number, got: ${text}`);
  check((await page.inputValue('[name="identity.full_name"]')) === 'Lê Thị Hoa', 'typed values kept');
  check((await page.inputValue('[name="identity.permanent_address.ward"]')) === 'Phường Cửa Nam', 'chosen ward kept');
  await shot('refused');

  await fill('identity.date_of_birth', '07/03/1995');
  await Promise.all([page.waitForURL(/\/counter\/[0-9a-f-]{36}\?created=1$/), page.click('#counter-submit')]);
  check((await page.getAttribute('#enrolment-status', 'data-status')) === 'verified', 'verified at the counter');
  await shot('registered');

  await page.selectOption('[name="kind"]', 'id_front');
  await page.setInputFiles('[name="file"]', env('SCAN_FILE'));
  await Promise.all([page.waitForURL(/\?uploaded=1$/), page.click('#upload-submit')]);
  const docs = await page.textContent('#documents');
  check(docs.includes('CCCD mặt trước'), `the scan is listed: ${docs}`);
  console.log(`ENROLMENT_ID=${(await page.textContent('#enrolment-id')).trim()}`);
});
