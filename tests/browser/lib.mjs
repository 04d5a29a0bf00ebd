// What every scenario shares: Debian's Chromium driven by playwright-core with a fresh profile,
// numbered screenshots under target/browser-screenshots/, TOTP codes, and a time limit.
// tests/browser.rs runs each scenario as `node tests/browser/<name>.mjs` with its inputs in the
// environment and fails with this script's output when it exits non-zero.

import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A required environment variable. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

/** Fails the scenario with `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret at `unixSeconds`. */
export function totp(secretBase32, unixSeconds) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretBase32.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error('TOTP secret is not base32');
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

/**
 * Asks the Rust test for something only it can read (e.g. `otp`: the code just sent to the
 * citizen's phone): prints `ASK <question>` and reads the answer from standard input
 * (`run_scenario_with_codes` in tests/it/common/browser.rs answers).
 */
export async function ask(question) {
  console.log(`ASK ${question}`);
  const lines = createInterface({ input: process.stdin });
  const [answer] = await once(lines, 'line');
  lines.close();
  return answer.trim();
}

/** The application's time (its test clock may run ahead of this machine's), in unix seconds. */
export function appNow() {
  return (Date.now() + Number(process.env.APP_CLOCK_OFFSET_MS || 0)) / 1000;
}

/** The operator named by `USERNAME`, `PASSWORD` and `TOTP_SECRET` in the environment. */
export function operatorFromEnv() {
  return { username: env('USERNAME'), password: env('PASSWORD'), totpSecret: env('TOTP_SECRET') };
}

/** Signs in through the sign-in page with a TOTP code computed from the secret. */
export async function signIn(page, base, who, shot) {
  await page.goto(`${base}/sign-in`);
  await page.fill('input[name="username"]', who.username);
  await page.fill('input[name="password"]', who.password);
  await page.fill('input[name="totp_code"]', totp(who.totpSecret, appNow()));
  if (shot) await shot('sign-in');
  await Promise.all([page.waitForURL(`${base}/dashboard`), page.click('button[type="submit"]')]);
}

/**
 * Runs `body({ page, base, shot })` in a fresh Chromium profile. On failure: a screenshot, the
 * error with the page's URL, the page's console and errors, exit code 1.
 */
export async function scenario(name, body) {
  const limitMs = Number(process.env.SCENARIO_TIMEOUT_MS || 120_000);
  const timer = setTimeout(() => {
    console.error(`${name}: no result after ${limitMs} ms`);
    process.exit(3);
  }, limitMs);
  const shots = env('SCREENSHOT_DIR');
  mkdirSync(shots, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'ca-enrol-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    locale: 'vi-VN',
    timezoneId: 'Asia/Ho_Chi_Minh',
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const console_ = [];
  page.on('console', (m) => console_.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console_.push(`page error: ${e.message}`));
  let step = 0;
  const shot = async (label) => {
    step += 1;
    const file = join(shots, `${name}-${String(step).padStart(2, '0')}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot: ${file}`);
  };
  try {
    await body({ page, base: env('BASE_URL'), shot });
    await shot('end');
    console.log(`${name}: passed`);
  } catch (e) {
    console.error(`${name} failed at ${page.url()}:\n${e.stack ?? e}`);
    try {
      await shot('failure');
    } catch (s) {
      console.error(`no failure screenshot: ${s.message}`);
    }
    for (const line of console_) console.error(line);
    process.exitCode = 1;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    clearTimeout(timer);
  }
}

// The citizen signs on the page's signature pad (`#signature-pad`): strokes drawn once the
// pad's script listens, repeated until the canvas shows ink.
export async function signPad(page) {
  const pad = page.locator('#signature-pad[data-ready="1"]');
  await pad.scrollIntoViewIfNeeded();
  const inked = () => page.evaluate(() => {
    const c = document.getElementById('signature-pad');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) return true;
    return false;
  });
  for (let attempt = 0; attempt < 3 && !(await inked()); attempt += 1) {
    const b = await pad.boundingBox();
    await page.mouse.move(b.x + b.width * 0.1, b.y + b.height * 0.6);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width * 0.9, b.y + b.height * 0.4, { steps: 15 });
    await page.mouse.up();
  }
  check(await inked(), 'the strokes drew on the pad');
}
