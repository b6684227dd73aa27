// Throughput of render() at batch 64, shared by Node and the page (bench.mjs imports it in both).
export const BATCH = 64;

/** The same latents everywhere (tests/web_bench.py builds Python's the same way): values do not change the work. */
export function benchLatents(latentDim) {
  return Float32Array.from({ length: BATCH * latentDim }, (_, i) => Math.sin(i));
}

/** images/s of `trials` runs of `batches` renders of 64 latents each, after a warm-up. */
export async function throughput(generator, trials, batches) {
  const z = benchLatents(generator.latentDim);
  for (let i = 0; i < 3; i += 1) await generator.render(z, 5);
  const rates = [];
  for (let trial = 0; trial < trials; trial += 1) {
    const start = performance.now();
    for (let i = 0; i < batches; i += 1) await generator.render(z, 5);
    rates.push((batches * BATCH) / ((performance.now() - start) / 1000));
  }
  return rates;
}
