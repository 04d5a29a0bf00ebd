// An RA officer opens the enrolment whose contract is signed and the certificate whose
// acceptance record is accepted: each page frames the draft and the signed PDF (served inline,
// with a download link), the enrolment page shows the drawn signature, and the pages' CSP
// blocks none of it.
import { check, env, operatorFromEnv, scenario, signIn } from './lib.mjs';

/** Every framed document of the page answers a PDF for inline display; returns their count. */
async function framedPdfs(page, base) {
  const sources = await page.locator('section.pdf-documents iframe').evaluateAll(
    (frames) => frames.map((f) => f.getAttribute('src')),
  );
  for (const src of sources) {
    const answer = await page.request.get(`${base}${src}`);
    check(answer.status() === 200, `${src}: HTTP ${answer.status()}`);
    const headers = answer.headers();
    check(headers['content-type'] === 'application/pdf', `${src}: ${headers['content-type']}`);
    check(headers['content-disposition'].startsWith('inline'), `${src}: ${headers['content-disposition']}`);
    check((await answer.body()).subarray(0, 5).toString() === '%PDF-', `${src}: not a PDF`);
    const download = page.locator(`section.pdf-documents a[href="${src}?download=1"]`);
    check((await download.count()) === 1, `${src}: no download link`);
  }
  return sources.length;
}

await scenario('documents', async ({ page, base, shot }) => {
  const blocked = [];
  page.on('console', (m) => {
    if (m.text().includes('Content Security Policy')) blocked.push(m.text());
  });
  await signIn(page, base, operatorFromEnv(), shot);

  await page.goto(`${base}/enrolments/${env('ENROLMENT_ID')}`);
  check((await framedPdfs(page, base)) === 2, 'the draft and the signed contract are framed');
  const signature = page.locator('figure.drawn-signature img');
  await signature.scrollIntoViewIfNeeded();
  await page.waitForFunction(
    () => {
      const img = document.querySelector('figure.drawn-signature img');
      return img && img.complete && img.naturalWidth > 0;
    },
  );
  await page.locator('section.pdf-documents').scrollIntoViewIfNeeded();
  await shot('enrolment-documents');

  await page.goto(`${base}/certificates/${env('SERIAL')}`);
  check((await framedPdfs(page, base)) === 2, 'the record and its accepted version are framed');
  await page.locator('#acceptance-documents').scrollIntoViewIfNeeded();
  await shot('certificate-documents');
  check(blocked.length === 0, `blocked by the CSP: ${blocked.join('; ')}`);
});
