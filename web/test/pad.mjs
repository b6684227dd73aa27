// Draws on the page's drawing pad in headless Chromium for tests/test_web.py:
//   node pad.mjs '{"url": ..., "strokes": [[[x, y], ...], ...], "pointerType": "touch", "fill": {...}}'
// Each stroke is dispatched as synthetic pointer events (down, moves, up) in the pad's own
// pixels; then the form is filled and "Write in my hand" pressed. Prints the status, the
// message, every error the page raised, the downloads as grey pixels, and what the page read
// from the pad (window.mnistgenHand: the prepared 28 x 28 digit and its latent) and the pad's pixels.
import { downloads, launch, settle } from './browser.mjs';

const job = JSON.parse(process.argv[2]);
const browser = await launch();
try {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  await page.goto(job.url);
  await settle(page);
  await page.evaluate(({ strokes, pointerType }) => {
    const pad = document.getElementById('pad');
    const box = pad.getBoundingClientRect();
    const at = ([x, y]) => ({ clientX: box.left + (x * box.width) / pad.width, clientY: box.top + (y * box.height) / pad.height });
    const fire = (type, point) => pad.dispatchEvent(new PointerEvent(type, {
      bubbles: true, cancelable: true, pointerId: 1, pointerType, isPrimary: true, buttons: type === 'pointerup' ? 0 : 1, ...at(point),
    }));
    for (const stroke of strokes) {
      fire('pointerdown', stroke[0]);
      for (const point of stroke.slice(1)) fire('pointermove', point);
      fire('pointerup', stroke.at(-1));
    }
  }, { strokes: job.strokes, pointerType: job.pointerType ?? 'mouse' });
  for (const [name, value] of Object.entries(job.fill ?? {})) await page.fill(`#request input[name=${name}]`, value);
  await page.evaluate(() => { document.body.dataset.status = ''; });
  await page.click('#in-hand');
  await settle(page);
  const result = {
    status: await page.evaluate(() => document.body.dataset.status),
    message: await page.textContent('#message'),
    images: await downloads(page),
    hand: await page.evaluate(() => window.mnistgenHand ?? null),
    // the pad's red channel (black strokes on white): the luminance the page prepared
    padGrey: await page.evaluate(() => {
      const pad = document.getElementById('pad');
      const rgba = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;
      return Array.from({ length: rgba.length / 4 }, (_, i) => rgba[i * 4]);
    }),
    errors,
  };
  process.stdout.write(JSON.stringify(result));
} finally {
  await browser.close();
}
