// Runs the module in Node for tests/test_web.py: node driver.mjs JOB.json prints one JSON result.
// JOB: {model, options?, calls: [{method, args, options?, latents?: file of float32, out?: file}]}.
// Errors are reported, not thrown, so the test can check each one's class and message.
import { readFileSync, writeFileSync } from 'node:fs';
import { load } from '../mnistgen.mjs';

function failure(error) {
  return { error: error.name, message: error.message };
}

function float32File(path) {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const result = { calls: [] };
let generator;
try {
  generator = await load(job.model, job.options ?? undefined);
  const { latentDim, height, width, labels, irVersion, opsetImport, info } = generator;
  result.model = { latentDim, height, width, labels, irVersion, opsetImport, info };
} catch (error) {
  result.load = failure(error);
}
for (const call of generator === undefined ? [] : job.calls) {
  const options = { ...call.options };
  if (call.latents !== undefined) options.latents = float32File(call.latents);
  try {
    const { pixels, count, height, width } = await generator[call.method](...call.args, options);
    if (call.out !== undefined) writeFileSync(call.out, pixels);
    result.calls.push({ count, height, width, length: pixels.length });
  } catch (error) {
    result.calls.push(failure(error));
  }
}
process.stdout.write(JSON.stringify(result));
