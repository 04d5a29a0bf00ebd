// No operator page is wider than a 1366 px screen. The scenario signs in as one role and walks
// every page that role can reach by links from the dashboard (so a new page is checked as
// soon as the navigation or another page links to it), plus the video-call page when the role
// can take a call. A page fails when its document scrolls sideways.
import { check, env, operatorFromEnv, scenario, signIn } from './lib.mjs';

const MAX_PAGES = Number(process.env.MAX_PAGES || 80);

/** Links worth walking: same origin, a page (not a file, a download or a language switch). */
function walkable(href) {
  if (!href.startsWith('/') || href.startsWith('//')) return false;
  if (href.startsWith('/lang/') || href.startsWith('/static/') || href.startsWith('/api/')) return false;
  return !/(\.csv|\/pem|\/documents\/[a-z_]+|\/contracts\/.+|\/acceptance-record\/.+)(\?|$)/.test(href);
}

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
  }
  if (process.env.TAKE_CALL) {
    await page.goto(`${base}/workstation`);
    await Promise.all([page.waitForURL(/\/workstation\/[^/?]+$/), page.click('form[action="/workstation/claim"] button')]);
    seen.add('/workstation/{call}');
    await measure('/workstation/{call}');
  }
  console.log(`checked ${seen.size} pages: ${[...seen].join(' ')}`);
  check(seen.size >= Number(env('MIN_PAGES')), `only ${seen.size} pages reached`);
  check(wide.length === 0, `pages wider than 1366 px:\n${wide.join('\n')}`);
});
