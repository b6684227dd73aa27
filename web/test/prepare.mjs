// Prepares pictures in Node for tests/test_web_handwriting.py: node prepare.mjs JOB.json prints one JSON result.
// JOB: {greys: file of float32 luminance, the pictures one after another, shapes: [[height, width], ...],
//       out: file to write the prepared digits to (uint8, 28 x 28 each; zeros for a refused one)}.
// Prints {errors: [null or {error, message} per picture], constants: PREPARE}.
import { readFileSync, writeFileSync } from 'node:fs';
import { PREPARE, SIDE, prepare } from '../mnistgen.mjs';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const bytes = readFileSync(job.greys);
const greys = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
const out = new Uint8Array(job.shapes.length * SIDE * SIDE);
const errors = [];
let offset = 0;
job.shapes.forEach(([height, width], i) => {
  const grey = greys.slice(offset, offset + height * width);
  offset += height * width;
  try {
    out.set(prepare(grey, height, width), i * SIDE * SIDE);
    errors.push(null);
  } catch (error) {
    errors.push({ error: error.name, message: error.message });
  }
});
writeFileSync(job.out, out);
process.stdout.write(JSON.stringify({ errors, constants: PREPARE }));
