// An operator signs in with a TOTP code, takes the next applicant from the video-call queue,
// sees the identity data and the document images, ticks the checklist and approves.
import { check, env, operatorFromEnv, scenario, signIn } from './lib.mjs';

await scenario('video-call', async ({ page, base, shot }) => {
  await signIn(page, base, operatorFromEnv(), shot);
  // Before taking the call the operator holds no lease: the applicant's images are refused.
  const image = `${base}/enrolments/${env('ENROLMENT_ID')}/documents/portrait`;
  const refused = await page.goto(image);
  check(refused.status() === 403, `no lease, no images: ${refused.status()}`);
  await shot('images-refused-without-lease');
  await page.goto(`${base}/dashboard`);
  await page.click('nav a[href="/workstation"]');
  check((await page.textContent('#ws-waiting')).trim() === '1', 'one applicant waiting');
  await shot('queue');

  await Promise.all([page.waitForURL(/\/workstation\/[0-9a-f-]{36}$/), page.click('#take-next')]);
  await page.getByText(env('APPLICANT_NAME')).first().waitFor();
  // The document images come through the authenticated route and decode as images.
  const images = page.locator('.docs img');
  check((await images.count()) === 4, `four document images, found ${await images.count()}`);
  await page.waitForFunction(() =>
    [...document.querySelectorAll('.docs img')].every((i) => i.complete && i.naturalWidth > 0));
  // The lease countdown runs (script), counting down from the server's figure.
  const before = await page.textContent('#lease-left');
  await page.waitForFunction((b) => document.getElementById('lease-left').textContent !== b, before);
  check(/^1[45]:\d\d$/.test(before), `lease countdown starts near 15 minutes: ${before}`);
  await shot('call');

  // Approving with the checklist incomplete is refused by the server.
  await page.fill('input[name="recording.uri"]', 's3://vc-recordings/2026/browser.webm');
  await page.fill('input[name="recording.sha256"]', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  await page.check('input[name="checklist.face_matches_portrait_and_id_photo"]');
  await page.click('#record-outcome');
  await page.locator('#outcome-errors').waitFor();
  await shot('checklist-refused');
  for (const box of await page.locator('#outcome-form input[type="checkbox"]').all()) await box.check();
  await page.check('input[name="outcome"][value="approved"]');
  await Promise.all([page.waitForURL(`${base}/workstation?done=approved`), page.click('#record-outcome')]);
  const notice = await page.textContent('#ws-notice');
  check(notice.includes('Đã phê duyệt'), `approval notice: ${notice}`);
});
