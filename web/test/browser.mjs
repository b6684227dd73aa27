// Opens the page in headless Chromium for tests/test_web.py and prints what a person would get:
//   node browser.mjs '[{"url": ..., "submit": {"digits": ..., "count": ..., "seed": ...}}, ...]'
// (CHROMIUM overrides /usr/bin/chromium). For each visit, after the load and after filling in
// and submitting the form when "submit" is given: the status, the message, the address, every
// error the page raised, and each download decoded back to grey pixels from the PNG it links.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

// Debian's chromium as root needs --no-sandbox; the rest keep it off the network and quiet
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'mnistgen-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Resolves once the page has settled: "ready" or "error: ...". */
export async function settle(page) {
  await page.waitForFunction(() => {
    const status = document.body?.dataset.status ?? '';
    return status === 'ready' || status.startsWith('error');
  }, null, { timeout: 120_000, polling: 50 });
}

export async function downloads(page) {
  return page.evaluate(async () => Promise.all([...document.querySelectorAll('#images figure a')].map(async (link) => {
    const blob = await (await fetch(link.href)).blob();
    const signature = [...new Uint8Array(await blob.slice(0, 8).arrayBuffer())];
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
    const grey = [];
    let opaqueGrey = true;
    for (let i = 0; i < rgba.length; i += 4) {
      grey.push(rgba[i]);
      opaqueGrey &&= rgba[i] === rgba[i + 1] && rgba[i] === rgba[i + 2] && rgba[i + 3] === 255;
    }
    return { name: link.download, type: blob.type, signature, width: bitmap.width, height: bitmap.height, grey, opaqueGrey };
  })));
}

async function visit(context, { url, submit }) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  await page.goto(url);
  await settle(page);
  if (submit !== undefined) {
    for (const [name, value] of Object.entries(submit)) await page.fill(`#request input[name=${name}]`, value);
    // cleared first, so settling waits for this submission and not the load before it
    await page.evaluate(() => { document.body.dataset.status = ''; });
    await page.click('#request button');
    await settle(page);
  }
  const result = {
    url,
    search: await page.evaluate(() => location.search),
    status: await page.evaluate(() => document.body.dataset.status),
    message: await page.textContent('#message'),
    images: await downloads(page),
    errors,
  };
  await page.close();
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) { // run as a script, not imported
  const browser = await launch();
  try {
    const results = [];
    for (const job of JSON.parse(process.argv[2])) results.push(await visit(browser.context, job));
    process.stdout.write(JSON.stringify(results));
  } finally {
    await browser.close();
  }
}
