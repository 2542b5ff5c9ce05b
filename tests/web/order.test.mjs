// The order page in a real browser: Debian's chromium, driven over the
// DevTools protocol by playwright-core, against `likeness serve` on loopback.
//
//   node tests/web/order.test.mjs
//
// Environment: LIKENESS_BIN (default $CARGO_TARGET_DIR/debug/likeness, else
// target/debug/likeness), CHROMIUM (default /usr/bin/chromium),
// LIKENESS_SCREENSHOTS (default target/web-screenshots).
//
// It orders obama.jpg as a person in two styles and watches the upload reach
// 100 %, every stage, every portrait load; downloads one and checks it carries
// no EXIF; orders coffee.png and sees the no_face reason; erases the first
// preview and sees its images gone. Every request the page makes, every
// response body and the page's storage are recorded, and the tenant's API key
// must appear in none of them.

import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
const BIN = process.env.LIKENESS_BIN || join(TARGET, 'debug/likeness');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = resolve(process.env.LIKENESS_SCREENSHOTS || join(ROOT, 'target/web-screenshots'));
const PHOTOS = join(ROOT, 'tests/fixtures/photos');
// Two of the quicker classic styles.
const STYLES = ['line_art', 'pencil'];
const STAGE_TIMEOUT_MS = 150_000;

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const log = (msg) => console.log(`[web ${elapsed()}] ${msg}`);

function freePortPair() {
  // The API on p, the object server on p + 1: both must be free.
  const tryPort = () =>
    new Promise((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => res(p));
      });
    });
  const isFree = (p) =>
    new Promise((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(p, '127.0.0.1', () => s.close(() => res(true)));
    });
  return (async () => {
    for (let i = 0; i < 20; i++) {
      const p = await tryPort();
      if (p < 65535 && (await isFree(p + 1))) return p;
    }
    throw new Error('no free pair of ports');
  })();
}

async function waitHealthy(base, server) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`likeness serve exited with ${server.exitCode}`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) return;
    } catch (_) {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('likeness serve did not become healthy in 120 s');
}

/** JPEG APP1 "Exif" segments or a WebP "EXIF" chunk. */
function exifIn(bytes) {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 4 <= bytes.length && bytes[i] === 0xff) {
      const marker = bytes[i + 1];
      if (marker === 0xda || marker === 0xd9) break; // start of scan: no more metadata segments
      const len = (bytes[i + 2] << 8) | bytes[i + 3];
      if (marker === 0xe1 && bytes.subarray(i + 4, i + 10).toString('latin1') === 'Exif\0\0') return true;
      i += 2 + len;
    }
    return false;
  }
  if (bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') {
    let i = 12;
    while (i + 8 <= bytes.length) {
      const tag = bytes.subarray(i, i + 4).toString('latin1');
      if (tag === 'EXIF') return true;
      const len = bytes.readUInt32LE(i + 4);
      i += 8 + len + (len & 1);
    }
    return false;
  }
  throw new Error('the download is neither a JPEG nor a WebP');
}

async function main() {
  assert.ok(existsSync(BIN), `${BIN} is missing: build it with cargo build -p likeness`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  mkdirSync(SHOTS, { recursive: true });
  const data = mkdtempSync(join(tmpdir(), 'likeness-web-'));
  const downloads = mkdtempSync(join(tmpdir(), 'likeness-web-dl-'));
  const port = await freePortPair();
  const base = `http://127.0.0.1:${port}`;
  const objects = `http://127.0.0.1:${port + 1}`;

  const serverLog = [];
  const server = spawn(BIN, ['serve', '--data-dir', data, '--port', String(port)], {
    env: { ...process.env, LIKENESS_LOG: process.env.LIKENESS_LOG || 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [server.stdout, server.stderr]) stream.on('data', (d) => serverLog.push(String(d)));
  let browser;
  try {
    await waitHealthy(base, server);
    log(`likeness serve is up on ${base}`);
    // The storefront tenant's key: the page must never see it.
    const apiKey = execFileSync(BIN, ['keys', 'create', '--data-dir', data, '--tenant', storefrontTenant()], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    assert.match(apiKey, /^lk_[0-9a-f]{64}$/);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    // launch() gives every run a fresh, temporary user-data-dir.
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
    const seen = record(context);
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`${m.text()} (${m.location().url})`);
    });
    page.on('dialog', (d) => d.accept());

    // ---- the order form ----
    const index = await page.goto(base + '/');
    assert.equal(index.status(), 200);
    const csp = index.headers()['content-security-policy'];
    assert.ok(csp && csp.includes("script-src 'self'") && csp.includes(objects), `CSP: ${csp}`);
    assert.equal(index.headers()['cache-control'], 'no-store');
    await page.locator('#order').waitFor({ state: 'visible' });
    const catalogue = await (await fetch(`${base}/v1/styles`)).json();
    await page.waitForFunction((n) => document.querySelectorAll('input[name="style"]').length === n, catalogue.length);
    await page.waitForFunction(() => [...document.querySelectorAll('.style img')].every((i) => i.complete && i.naturalWidth > 0));
    await page.screenshot({ path: join(SHOTS, '01-order.png'), fullPage: true });
    log(`the form shows ${catalogue.length} styles with thumbnails`);

    // Refused before anything is sent: no consent. Controls are found by their
    // accessible names, as a screen reader announces them, and worked by keyboard.
    await page.getByRole('radio', { name: 'One person' }).check();
    for (const s of STYLES) {
      const name = catalogue.find((c) => c.id === s).name;
      const box = page.getByRole('checkbox', { name: new RegExp(`^${name}`) });
      await box.focus();
      await page.keyboard.press('Space');
      assert.ok(await box.isChecked(), `${name} is checked from the keyboard`);
    }
    await page.setInputFiles('#photo', join(PHOTOS, 'obama.jpg'));
    await page.click('#submit');
    await page.locator('#form-error').waitFor({ state: 'visible' });
    assert.match(await page.textContent('#form-error'), /confirm/i);
    assert.equal(seen.requests.filter((r) => r.method === 'POST').length, 0, 'nothing is ordered without consent');
    await page.getByRole('checkbox', { name: /I own this photo/ }).check();
    assert.ok(await page.locator('#form-error').isHidden(), 'the consent error clears once consent is given');
    await page.screenshot({ path: join(SHOTS, '02-filled.png'), fullPage: true });

    // Watch the stages as the page shows them, from before the order leaves.
    await page.evaluate(() => {
      window.__stages = [];
      window.__progress = [];
      const note = () => {
        const current = document.querySelector('#stages li.current');
        const stage = current ? current.dataset.stage : document.querySelector('#stages li:last-child.done') ? 'ready' : null;
        if (stage && window.__stages[window.__stages.length - 1] !== stage) window.__stages.push(stage);
        const v = document.querySelector('#upload-bar').value;
        if (window.__progress[window.__progress.length - 1] !== v) window.__progress.push(v);
      };
      new MutationObserver(note).observe(document.body, { subtree: true, attributes: true, childList: true, characterData: true });
    });
    await page.click('#submit');
    await page.locator('#upload-percent', { hasText: '100 %' }).waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(SHOTS, '03-progress.png'), fullPage: true });
    log('upload reached 100 %');
    await page.locator('#results').waitFor({ state: 'visible', timeout: STAGE_TIMEOUT_MS });
    const stages = await page.evaluate(() => window.__stages);
    const progress = await page.evaluate(() => window.__progress);
    const polled = seen.previewStatuses();
    log(`stages shown: ${stages.join(' → ')}; statuses polled: ${polled.join(' → ')}`);
    assert.equal(progress[progress.length - 1], 100);
    assert.deepEqual(
      await page.$$eval('#stages li', (lis) => lis.map((li) => li.classList.contains('done'))),
      [true, true, true, true, true],
      'every stage is marked done',
    );
    const order = ['awaiting_upload', 'analyzing', 'rendering', 'judging', 'ready'];
    assert.deepEqual(stages, [...stages].sort((a, b) => order.indexOf(a) - order.indexOf(b)), 'stages move forward only');
    // `judging` lasts only while finalize delivers, so a poll rarely lands on it;
    // every status a poll did see, the page showed.
    for (const s of ['awaiting_upload', 'rendering', 'ready', ...polled]) assert.ok(stages.includes(s), `the page showed ${s}`);

    // Every portrait loads; scores are words, not numbers.
    const images = page.locator('#gallery img');
    const count = await images.count();
    assert.ok(count >= STYLES.length, `at least one portrait per style, got ${count}`);
    await page.waitForFunction(() => [...document.querySelectorAll('#gallery img')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 30_000 });
    const captions = await page.$$eval('#gallery figcaption', (f) => f.map((c) => c.innerText));
    for (const c of captions) {
      assert.ok(!/\d\.\d/.test(c), `a caption shows a raw number: ${c}`);
      assert.match(c, /likeness/i);
    }
    const oldUrls = await page.$$eval('#gallery img', (imgs) => imgs.map((i) => i.currentSrc || i.src));
    assert.ok(oldUrls.every((u) => u.startsWith(objects)), 'portraits come from the object store');
    // Flagged portraits are marked, as the API reports them.
    const stored = await (await fetch(`${base}/v1/previews/${await page.evaluate(() => JSON.parse(sessionStorage.getItem('likeness.preview')).id)}`, {
      headers: { Authorization: `Bearer ${apiKey}` },
    })).json();
    const flagged = stored.results.flatMap((r) => r.previews).filter((p) => p.flagged).length;
    assert.equal(await page.locator('#gallery figure.flagged .flag').count(), flagged);
    log(`results: ${stored.results.map((r) => `${r.style} ${r.outcome} ×${r.previews.length}`).join(', ')}; ${flagged} flagged`);
    await page.screenshot({ path: join(SHOTS, '04-results.png'), fullPage: true });
    log(`${count} portraits loaded`);

    // Download one; it carries no EXIF.
    for (const format of ['jpeg', 'webp']) {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.locator(`#gallery button[data-format="${format}"]`).first().click(),
      ]);
      const path = join(downloads, download.suggestedFilename());
      await download.saveAs(path);
      const bytes = readFileSync(path);
      assert.ok(bytes.length > 1000, `${format} download is ${bytes.length} bytes`);
      assert.equal(exifIn(bytes), false, `${format} download carries EXIF`);
      log(`downloaded ${download.suggestedFilename()} (${bytes.length} bytes, no EXIF)`);
    }

    // The gallery at phone width: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 360, height: 780 });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the gallery fits 360 px');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, '04-results-phone.png') });
    await page.setViewportSize({ width: 1100, height: 900 });

    // A reload resumes from sessionStorage.
    const firstId = (await page.evaluate(() => JSON.parse(sessionStorage.getItem('likeness.preview')))).id;
    await seen.storage(page);
    await page.reload();
    await page.locator('#results').waitFor({ state: 'visible' });
    log('a reload resumes the preview');

    // ---- a refused photo, in a second tab of the same browser ----
    // This one comes the way a shop's own site sends a customer: its backend
    // asks for an order token with the API key and links to the page with it.
    const issued = await fetch(`${base}/v1/order-tokens`, { method: 'POST', headers: { Authorization: `Bearer ${apiKey}` } });
    assert.equal(issued.status, 201);
    const { order_token: orderToken, preview_id: reserved } = await issued.json();
    const page2 = await context.newPage();
    page2.on('pageerror', (e) => pageErrors.push(String(e)));
    await page2.goto(`${base}/#order_token=${encodeURIComponent(orderToken)}`);
    assert.equal(await page2.evaluate(() => location.href.includes('#')), false, 'the token leaves the address bar');
    await page2.locator('#order').waitFor({ state: 'visible' });
    await page2.check(`input[name="style"][value="${STYLES[0]}"]`);
    await page2.setInputFiles('#photo', join(PHOTOS, 'coffee.png'));
    await page2.check('#consent');
    await page2.click('#submit');
    await page2.locator('#rejected').waitFor({ state: 'visible', timeout: STAGE_TIMEOUT_MS });
    const secondId = (await page2.evaluate(() => JSON.parse(sessionStorage.getItem('likeness.preview')))).id;
    assert.equal(secondId, reserved, "the order used the link's token");
    const reason = page2.locator('#reasons li[data-code="no_face"]');
    assert.match(await reason.innerText(), /No face was found/);
    await page2.screenshot({ path: join(SHOTS, '05-rejected.png'), fullPage: true });
    await seen.storage(page2);
    log('coffee.png is refused with the no_face reason');
    await page2.close();

    // ---- erase the first preview ----
    await page.click('#erase');
    await page.locator('#erased').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#gallery img').count(), 0);
    await page.screenshot({ path: join(SHOTS, '06-erased.png'), fullPage: true });
    for (const url of oldUrls) {
      const r = await fetch(url);
      assert.equal(r.status, 404, `after erase ${url} answers ${r.status}`);
    }
    const after = await (await fetch(`${base}/v1/previews/${firstId}`, { headers: { Authorization: `Bearer ${apiKey}` } })).json();
    assert.equal(after.status, 'erased');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('likeness.preview')), null);
    log('erased: old portrait URLs answer 404, the status is erased');

    // ---- phone width ----
    await page.setViewportSize({ width: 360, height: 780 });
    await page.goto(base + '/');
    await page.locator('#order').waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelectorAll('.style img').length > 0);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a 360 px phone`);
    await page.screenshot({ path: join(SHOTS, '07-phone.png'), fullPage: true });
    await seen.storage(page);

    // ---- the key never reached the browser ----
    await seen.settle();
    // The recorder does see credentials: the order token the link carried went
    // out in an Authorization header, so a key sent the same way would be caught.
    assert.ok(seen.find(orderToken).some((hit) => hit.startsWith('request POST')), 'the recorder misses headers');
    const leaks = seen.find(apiKey);
    assert.deepEqual(leaks, [], 'the API key reached the page');
    assert.deepEqual(pageErrors, [], 'the page logged errors');
    log(`checked ${seen.requests.length} requests, ${seen.bodies.length} response bodies and ${seen.stores.length} storage snapshots: no API key`);
  } catch (err) {
    console.error(serverLog.join('').split('\n').slice(-40).join('\n'));
    throw err;
  } finally {
    if (browser) await browser.close();
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode !== null ? r() : server.once('exit', r)));
    rmSync(data, { recursive: true, force: true });
    rmSync(downloads, { recursive: true, force: true });
  }
  log(`passed; screenshots in ${SHOTS}`);
}

/** The tenant `likeness serve` orders for on its own page. */
function storefrontTenant() {
  return process.env.LIKENESS_STOREFRONT_TENANT || 'web';
}

/** Everything the browser sends and receives, and what it stores. */
function record(context) {
  const requests = [];
  const bodies = [];
  const stores = [];
  const pending = [];
  const statuses = [];
  context.on('request', (request) => {
    pending.push(
      request
        .allHeaders()
        // A request still in flight when its page closes has only the headers it started with.
        .catch(() => request.headers())
        .then((headers) => {
          requests.push({ url: request.url(), method: request.method(), headers, body: request.postData() || '' });
        }),
    );
  });
  context.on('response', (response) => {
    pending.push(
      response
        .body()
        .then((body) => {
          bodies.push({ url: response.url(), body: body.toString('latin1') });
          if (response.request().method() === 'GET' && /\/v1\/previews\/pv_[^/]+$/.test(response.url())) {
            try {
              statuses.push(JSON.parse(body.toString('utf8')).status);
            } catch (_) {
              // Not JSON: not a status.
            }
          }
        })
        .catch(() => {
          // Redirects and aborted loads have no body.
        }),
    );
  });
  return {
    requests,
    bodies,
    stores,
    previewStatuses: () => statuses.filter((s, i) => statuses[i - 1] !== s),
    async storage(page) {
      stores.push(
        await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookies: document.cookie })),
      );
    },
    async settle() {
      await Promise.all(pending);
    },
    find(secret) {
      const hits = [];
      for (const r of requests) {
        if (r.url.includes(secret) || r.body.includes(secret) || JSON.stringify(r.headers).includes(secret)) hits.push(`request ${r.method} ${r.url}`);
      }
      for (const b of bodies) if (b.body.includes(secret)) hits.push(`response body of ${b.url}`);
      for (const s of stores) if (s.includes(secret)) hits.push(`storage ${s}`);
      return hits;
    },
  };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
