// No operator page is wider than a 1366 px screen. The scenario signs in as one role and walks
// every page that role can reach by links from the dashboard (so a new page is checked as
// soon as the navigation or another page links to it), plus the video-call page when the role
// can take a call, and the confirmation pages that posting a dangerous form answers first
// (disable an account, reset its password or authenticator, revoke an API key, record a
// no-show: one of each, never confirmed). A page fails when its document scrolls sideways.
import { check, env, operatorFromEnv, scenario, signIn } from './lib.mjs';

const MAX_PAGES = Number(process.env.MAX_PAGES || 80);

/** Links worth walking: same origin, a page (not a file, a download or a language switch). */
function walkable(href) {
  if (!href.startsWith('/') || href.startsWith('//')) return false;
  if (href.startsWith('/lang/') || href.startsWith('/static/') || href.startsWith('/api/')) return false;
  return !/(\.csv|\/pem|\/documents\/[a-z_]+|\/contracts\/.+|\/acceptance-record\/.+)(\?|$)/.test(href);
}

/** Forms whose post answers a confirmation page: nothing changes until it is confirmed. */
const CONFIRMING = /^\/admin\/(operators\/[^/]+\/(disable|reset-password|reset-totp)|api-keys\/[^/]+\/revoke)$/;

/** The page's width beyond the viewport, in CSS pixels (0 when it fits). */
async function overflow(page) {
  return page.evaluate(() => {
    const doc = document.documentElement;
    return Math.max(doc.scrollWidth, document.body.scrollWidth) - doc.clientWidth;
  });
}

await scenario(`widths-${env('ROLE')}`, async ({ page, base, shot }) => {
  await page.setViewportSize({ width: 1366, height: 768 });
  await signIn(page, base, operatorFromEnv());
  const seen = new Set();
  const queue = ['/dashboard'];
  const wide = [];
  // One form of each confirming kind (`/admin/api-keys/{id}/revoke`) and the page it is on.
  const confirming = new Map();
  const measure = async (path) => {
    const extra = await overflow(page);
    if (extra > 0) {
      wide.push(`${path}: ${extra} px too wide`);
      await shot(`too-wide-${wide.length}`);
    }
  };
  while (queue.length > 0 && seen.size < MAX_PAGES) {
    const path = queue.shift();
    if (seen.has(path)) continue;
    seen.add(path);
    const answer = await page.goto(`${base}${path}`);
    if (!(answer.headers()['content-type'] || '').startsWith('text/html')) continue;
    await measure(path);
    const links = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')));
    for (const href of links) {
      if (walkable(href) && !seen.has(href)) queue.push(href);
    }
    const actions = await page.$$eval('form[method="post"]', (fs) => fs.map((f) => f.getAttribute('action')));
    for (const action of actions.filter((a) => CONFIRMING.test(a))) {
      const kind = action.replace(/\/[^/]+(\/[a-z-]+)$/, '/{id}$1');
      if (!confirming.has(kind)) confirming.set(kind, { path, action });
    }
  }
  // Posted without `confirm=yes`: the confirmation page, measured, then left unconfirmed.
  const confirmation = async (name, button) => {
    await page.click(button);
    await page.locator('#confirm-form').waitFor();
    seen.add(`POST ${name}`);
    await measure(`POST ${name}`);
  };
  for (const [kind, { path, action }] of confirming) {
    await page.goto(`${base}${path}`);
    await confirmation(kind, `form[action="${action}"] button[type="submit"]`);
  }
  check(confirming.size >= Number(process.env.MIN_CONFIRMATIONS || 0), `only ${confirming.size} confirmation pages reached`);
  if (process.env.TAKE_CALL) {
    await page.goto(`${base}/workstation`);
    await Promise.all([page.waitForURL(/\/workstation\/[^/?]+$/), page.click('form[action="/workstation/claim"] button')]);
    seen.add('/workstation/{call}');
    await measure('/workstation/{call}');
    await confirmation('/workstation/{call}/outcome (no-show)', '#no-show');
  }
  console.log(`checked ${seen.size} pages: ${[...seen].join(' ')}`);
  check(seen.size >= Number(env('MIN_PAGES')), `only ${seen.size} pages reached`);
  check(wide.length === 0, `pages wider than 1366 px:\n${wide.join('\n')}`);
});
