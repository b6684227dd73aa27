// Encodes prepared digits in Node for tests/test_web.py: node encode.mjs JOB.json prints one JSON result.
// JOB: {generator, encoder, options?, images: file of uint8 (count x 28 x 28), digits: [...],
//       latents: file to write float32 latents to, pixels: file to write each latent drawn as its digit}.
// Errors are reported, not thrown, so the test can check each one's class and message.
import { readFileSync, writeFileSync } from 'node:fs';
import { load, loadEncoder } from '../mnistgen.mjs';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const result = {};
try {
  const generator = await load(job.generator, job.options ?? undefined);
  const encoder = await loadEncoder(job.encoder, { ...job.options, generator });
  const images = new Uint8Array(readFileSync(job.images));
  const { latents, count } = await encoder.encode(images, job.digits);
  writeFileSync(job.latents, Buffer.from(latents.buffer));
  const parts = [];
  for (let i = 0; i < count; i += 1) {
    const one = latents.subarray(i * encoder.latentDim, (i + 1) * encoder.latentDim);
    parts.push((await generator.generate(job.digits[i], { latents: one })).pixels);
  }
  writeFileSync(job.pixels, Buffer.concat(parts.map((p) => Buffer.from(p))));
  result.count = count;
  result.latentDim = encoder.latentDim;
} catch (error) {
  result.error = { error: error.name, message: error.message };
}
process.stdout.write(JSON.stringify(result));
