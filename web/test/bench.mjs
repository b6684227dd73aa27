// Benchmarks of the page and the module, run by `python -m tests.web_bench` (which serves the
// repo and adds Python's figures): node bench.mjs PAGE_URL MODEL_PATH REPETITIONS BATCHES
// prints JSON: the page's cold start and the bytes it fetched, and images/s at batch 64 on one
// thread in Chromium (wasm), in Node with onnxruntime-node, and in Node with onnxruntime-web.
import { load } from '../mnistgen.mjs';
import { launch, settle } from './browser.mjs';
import { throughput } from './throughput.mjs';

const [pageUrl, modelPath, repetitions, batches] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])];

/** From navigation start to status "ready" with one digit drawn, in a fresh profile (no cache). */
async function coldStart() {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const fetched = {};
    page.on('requestfinished', async (request) => {
      const sizes = await request.sizes();
      fetched[new URL(request.url()).pathname] = sizes.responseBodySize;
    });
    await page.addInitScript(() => {
      new MutationObserver(() => {
        if (document.body?.dataset.status === 'ready' && globalThis.readyAt === undefined) globalThis.readyAt = performance.now();
      }).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-status'] });
    });
    await page.goto(`${pageUrl}?digits=7&count=1&seed=1`);
    await settle(page);
    const status = await page.evaluate(() => document.body.dataset.status);
    if (status !== 'ready') throw new Error(`page did not draw: ${status}`);
    const milliseconds = await page.evaluate(() => globalThis.readyAt);
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the last requestfinished handlers run
    return { milliseconds, fetched };
  } finally {
    await browser.close();
  }
}

async function browserThroughput() {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    await page.goto(pageUrl);
    await settle(page);
    return await page.evaluate(async ([trials, count]) => {
      const [{ load: loadInPage }, { throughput: measure }] = await Promise.all([
        import('./mnistgen.mjs'), import('./test/throughput.mjs')]);
      return measure(await loadInPage('../models/generator.onnx'), trials, count);
    }, [repetitions, batches]);
  } finally {
    await browser.close();
  }
}

async function nodeThroughput(runtime) {
  const generator = await load(modelPath, { runtime, threads: 1 });
  return throughput(generator, repetitions, batches);
}

const cold = [];
for (let i = 0; i < repetitions; i += 1) cold.push(await coldStart());
const result = {
  coldMilliseconds: cold.map((run) => run.milliseconds),
  fetchedBytes: cold[0].fetched,
  browser: await browserThroughput(),
  nodeNative: await nodeThroughput('node'),
  nodeWasm: await nodeThroughput('wasm'),
};
process.stdout.write(JSON.stringify(result));
