/**
 * mnistgen in JavaScript: the shipped ONNX generator in a web page or in Node, with the same
 * pixels as Python for the same latents.
 *
 *   import { load } from './mnistgen.mjs';
 *   const g = await load('../models/generator.onnx');        // URL, path or bytes
 *   const { pixels, count, height, width } = await g.generate(7, { count: 4, seed: 1 });
 *   await g.number('2026', { count: 3, seed: 1 });           // one hand per sample
 *   const e = await loadEncoder('../models/encoder.onnx', { generator: g });
 *   const { latents } = await e.encode(prepare(grey, h, w), 7);  // a picture of a 7: its hand
 *   await g.number('2026', { latents });                     // 2026 in that hand
 *
 * No bundler: the runtime is imported lazily by bare name, which the page maps with an import
 * map and Node resolves from web/node_modules. The input rules, limits and messages are the
 * Python runtime's (tests/test_web.py holds them to mnistgen.MAX_COUNT and MAX_NUMBER_LENGTH),
 * so a request the CLI refuses is refused here too.
 */

export const MAX_COUNT = 100_000;
export const MAX_NUMBER_LENGTH = 32;
/** Rows per onnxruntime call, as in Python: bounds the float32 working memory whatever the count. */
export const BATCH_SIZE = 256;
/** Each digit of a number moves by a seeded -2..2 px so the spacing looks handwritten. */
export const NUMBER_JITTER = 2;
/** How far variations of a hand stray: 0 = the hand itself, 1 = hands drawn at random (Python's DEFAULT_SPREAD). */
export const DEFAULT_SPREAD = 0.3;
const FORMAT_VERSIONS = ['1'];
const MORPH_INPUTS = ['digit_to', 'mix'];
export const SIDE = 28;
/** Python's mnistgen.prepare constants (tests/test_web_handwriting.py holds them to runtime/prepare.py). */
export const PREPARE = Object.freeze({
  box: 20, // the digit's long side in the 28 x 28 field
  centre: 14, // where its centre of mass goes (row and column)
  trim: 0.002, // ink mass cut off each side when cropping
  minContrast: 0.1, // below this spread of grey the picture is one flat tone
  minInk: 0.2, // the darkest marks must be this much darker than their paper to be ink
  mnistStroke: 1.8, // MNIST's median stroke width: thin strokes are thickened to it
  minStroke: 1.5, // MNIST's lower quartile: thinner strokes are thickened
  paperSide: 128, // the paper is estimated on a copy at most this many pixels a side
  paperWindow: 1 / 6, // the closing's window, as a fraction of that copy's short side
  toneSample: 65_536, // pictures of more pixels have their tones read on every other row and column
});
const PREPARE_TAKES = 'prepare takes the grey 0..1 of a picture of one digit, dark on light or light on dark';

export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InputError';
  }
}

export class ModelError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ModelError';
  }
}

const IN_NODE = typeof process !== 'undefined' && Boolean(process.versions?.node) && typeof window === 'undefined';

// ---------------------------------------------------------------------------------------------
// Input rules (the CLI's)

function show(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.length})`;
  return String(value);
}

export function checkDigit(digit) {
  if (!Number.isInteger(digit) || digit < 0 || digit > 9) {
    throw new InputError(`digit must be an integer 0-9, got ${show(digit)}`);
  }
  return digit;
}

export function checkCount(count, limit = MAX_COUNT) {
  if (!Number.isInteger(count) || count < 1 || count > limit) {
    throw new InputError(`count must be an integer 1-${limit}, got ${show(count)}`);
  }
  return count;
}

/** undefined (fresh randomness), or a non-negative integer as a Number or a BigInt; returns a BigInt. */
export function checkSeed(seed) {
  if (seed === undefined || seed === null) return undefined;
  const integer = (typeof seed === 'number' && Number.isSafeInteger(seed)) || typeof seed === 'bigint';
  if (!integer || seed < 0) {
    throw new InputError(`seed must be a non-negative integer (or omitted for fresh randomness), got ${show(seed)}`);
  }
  return BigInt(seed);
}

export function checkNumber(digits) {
  if (typeof digits !== 'string' || !new RegExp(`^[0-9]{1,${MAX_NUMBER_LENGTH}}$`).test(digits)) {
    throw new InputError(`number must be 1-${MAX_NUMBER_LENGTH} digits 0-9 (e.g. '2026'), got ${show(digits)}`);
  }
  return digits;
}

/** The whole (count, h, w * length) array is returned at once, so the limit is on images. */
export function checkNumberCount(count, length) {
  return checkCount(count, Math.max(1, Math.floor(MAX_COUNT / length)));
}

function checkOptions(options, accepted) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InputError(`options must be an object with any of ${accepted.join(', ')}, got ${show(options)}`);
  }
  const unknown = Object.keys(options).filter((key) => !accepted.includes(key));
  if (unknown.length > 0) {
    throw new InputError(`unknown option ${unknown.join(', ')}; accepted: ${accepted.join(', ')}`);
  }
  return options;
}

/**
 * Text fields (a form or a URL query) -> {digits, count, seed}, with the CLI's rules: digits is
 * one digit or a number of up to 32 digits, count 1-100,000 (a number: count x digits <= 100,000),
 * seed a non-negative integer or empty. Throws InputError naming the first problem.
 */
export function parseRequest({ digits, count, seed }) {
  const text = (value) => (value ?? '').trim();
  if (text(digits) === '') {
    throw new InputError(`digits is required: 0-9, or up to ${MAX_NUMBER_LENGTH} digits for a number (e.g. 2026)`);
  }
  const number = checkNumber(text(digits));
  let samples = 1;
  if (text(count) !== '') {
    samples = /^[0-9]+$/.test(text(count)) ? Number(text(count)) : text(count);
    if (number.length === 1) checkCount(samples);
    else checkNumberCount(samples, number.length);
  }
  let seedValue;
  if (text(seed) !== '') {
    seedValue = checkSeed(/^[0-9]+$/.test(text(seed)) ? BigInt(text(seed)) : text(seed));
  }
  return { digits: number, count: samples, seed: seedValue };
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness. JS cannot reproduce numpy's generator cheaply, so the same seed gives the
// same images within JS but not the images Python draws for that seed; explicit latents give
// Python's pixels.

const MASK64 = (1n << 64n) - 1n;

function splitmix64(state) {
  let z = (state + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return { next: (state + 0x9e3779b97f4a7c15n) & MASK64, value: z ^ (z >> 31n) };
}

/** xoshiro128** on 32-bit lanes (Math.imul keeps it fast), seeded from (seed, stream) by splitmix64. */
class Stream {
  constructor(seed, stream) {
    // every 64-bit word of the seed is absorbed, so arbitrarily large seeds stay distinct
    let state = BigInt(stream);
    let rest = seed;
    do {
      state = splitmix64(state ^ (rest & MASK64)).value;
      rest >>= 64n;
    } while (rest > 0n);
    this.s = new Uint32Array(4);
    for (let half = 0; half < 2; half += 1) {
      const step = splitmix64(state);
      state = step.next;
      this.s[2 * half] = Number(step.value & 0xffffffffn);
      this.s[2 * half + 1] = Number(step.value >> 32n);
    }
    if (this.s.every((lane) => lane === 0)) this.s[0] = 1; // the one state xoshiro cannot leave
    this.spare = null;
  }

  nextUint32() {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform() {
    return ((this.nextUint32() >>> 5) * 67108864 + (this.nextUint32() >>> 6)) / 9007199254740992;
  }

  /** Standard normal by Marsaglia's polar method: only log and sqrt, no trigonometry. */
  normal() {
    if (this.spare !== null) {
      const value = this.spare;
      this.spare = null;
      return value;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const factor = Math.sqrt((-2 * Math.log(s)) / s);
        this.spare = v * factor;
        return u * factor;
      }
    }
  }

  /** Integer in [low, high]. */
  integer(low, high) {
    return low + Math.floor(this.uniform() * (high - low + 1));
  }
}

function rotl(x, k) {
  return (x << k) | (x >>> (32 - k));
}

// Node 18 has Web Crypto only as a module; browsers and Node 20+ have it as a global
const webCrypto = globalThis.crypto ?? (IN_NODE ? (await import('node:crypto')).webcrypto : undefined);

function freshSeed() {
  const words = webCrypto.getRandomValues(new Uint32Array(2));
  return (BigInt(words[0]) << 32n) | BigInt(words[1]);
}

/** (count x latentDim) standard normals drawn in order, so a larger count extends a smaller one. */
function drawLatents(stream, count, latentDim) {
  const z = new Float32Array(count * latentDim);
  for (let i = 0; i < z.length; i += 1) z[i] = stream.normal();
  return z;
}

// ---------------------------------------------------------------------------------------------
// The ONNX file: a reader of ModelProto's top-level fields. onnxruntime-web has no metadata API
// (onnxruntime issue #16547), and a full protobuf library would be more code than the reader.

const WIRE = { VARINT: 0, FIXED64: 1, BYTES: 2, FIXED32: 5 };

class ProtoReader {
  constructor(bytes, where) {
    this.bytes = bytes;
    this.pos = 0;
    this.where = where;
  }

  fail(reason) {
    throw new ModelError(`${this.where} is not an ONNX model (${reason} at byte ${this.pos})`);
  }

  varint() {
    // Numbers hold 53 bits exactly: plenty for field keys, lengths and the versions read here
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (this.pos >= this.bytes.length) this.fail('truncated varint');
      const byte = this.bytes[this.pos];
      this.pos += 1;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** Yields [fieldNumber, wireType, value]: a Number for varints, a byte view for length-delimited. */
  *fields() {
    while (this.pos < this.bytes.length) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (field === 0) this.fail('field number 0');
      if (wire === WIRE.VARINT) {
        yield [field, wire, this.varint()];
      } else if (wire === WIRE.BYTES) {
        const length = this.varint();
        if (length > this.bytes.length - this.pos) this.fail(`field ${field} runs past the end`);
        yield [field, wire, this.bytes.subarray(this.pos, this.pos + length)];
        this.pos += length;
      } else if (wire === WIRE.FIXED64 || wire === WIRE.FIXED32) {
        const size = wire === WIRE.FIXED64 ? 8 : 4;
        if (size > this.bytes.length - this.pos) this.fail(`field ${field} runs past the end`);
        this.pos += size;
      } else {
        this.fail(`wire type ${wire} of field ${field}`);
      }
    }
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function text(bytes, reader, what) {
  try {
    return UTF8.decode(bytes);
  } catch {
    return reader.fail(`${what} is not UTF-8`);
  }
}

/**
 * ONNX ModelProto's top-level fields (onnx.proto3 numbers): ir_version 1, producer_name 2,
 * producer_version 3, domain 4, model_version 5, doc_string 6, graph 7, opset_import 8,
 * metadata_props 14. The graph itself is skipped by its length, never parsed.
 */
export function readModelProto(bytes, where = 'model') {
  const reader = new ProtoReader(bytes, where);
  const model = {
    irVersion: undefined, producerName: '', producerVersion: '', domain: '', modelVersion: undefined,
    docString: '', hasGraph: false, opsetImport: [], metadata: {},
  };
  const strings = { 2: 'producerName', 3: 'producerVersion', 4: 'domain', 6: 'docString' };
  for (const [field, wire, value] of reader.fields()) {
    const expected = field === 1 || field === 5 ? WIRE.VARINT : WIRE.BYTES;
    if ([1, 2, 3, 4, 5, 6, 7, 8, 14].includes(field) && wire !== expected) {
      reader.fail(`field ${field} has wire type ${wire}`);
    }
    if (field === 1) model.irVersion = value;
    else if (field === 5) model.modelVersion = value;
    else if (field in strings) model[strings[field]] = text(value, reader, strings[field]);
    else if (field === 7) model.hasGraph = true;
    else if (field === 8) model.opsetImport.push({ domain: '', ...readPairs(value, where, { 1: 'domain', 2: 'version' }) });
    else if (field === 14) {
      const entry = readPairs(value, where, { 1: 'key', 2: 'value' });
      model.metadata[entry.key ?? ''] = entry.value ?? '';
    }
  }
  if (model.irVersion === undefined || !model.hasGraph) {
    throw new ModelError(`${where} is not an ONNX model (no ${model.hasGraph ? 'ir_version' : 'graph'})`);
  }
  return model;
}

/** A small nested message of one string field and one string or varint field. */
function readPairs(bytes, where, names) {
  const reader = new ProtoReader(bytes, where);
  const entry = {};
  for (const [field, wire, value] of reader.fields()) {
    if (!(field in names)) continue;
    entry[names[field]] = wire === WIRE.BYTES ? text(value, reader, names[field]) : value;
  }
  return entry;
}

/** Metadata values are strings; structured ones hold JSON, plain ones (dates, versions) stay text. */
function decodeMetadata(raw) {
  const decoded = {};
  for (const [key, value] of Object.entries(raw)) {
    try {
      decoded[key] = JSON.parse(value);
    } catch {
      decoded[key] = value;
    }
  }
  return decoded;
}

function checkKind(raw, where, kind) {
  if (raw.kind !== kind) {
    const what = raw.kind === undefined ? 'no mnistgen metadata' : `kind ${JSON.stringify(raw.kind)}`;
    throw new ModelError(`${where} is not an mnistgen ${kind} model (${what}); expected metadata kind "${kind}"`);
  }
  if (!FORMAT_VERSIONS.includes(raw.format_version)) {
    throw new ModelError(
      `${where} has format_version ${show(raw.format_version)}; this runtime reads ${FORMAT_VERSIONS.join(', ')}`,
    );
  }
}

function metadataLatentDim(raw, where) {
  const value = raw.latent_dim;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value) || Number(value) <= 0) {
    throw new ModelError(`${where}: metadata "latent_dim" must be a positive integer, got ${show(value)}`);
  }
  return Number(value);
}

function metadataLabels(raw, where) {
  let labels;
  try {
    labels = JSON.parse(raw.labels);
  } catch {
    labels = undefined;
  }
  if (!Array.isArray(labels) || labels.length !== 10) {
    throw new ModelError(`${where}: metadata "labels" must be a JSON list of 10 names, got ${show(raw.labels)}`);
  }
  return labels.map(String);
}

// ---------------------------------------------------------------------------------------------
// Loading

async function readBytes(model) {
  if (model instanceof Uint8Array) return { bytes: model, where: 'model bytes' };
  if (model instanceof ArrayBuffer) return { bytes: new Uint8Array(model), where: 'model bytes' };
  if (ArrayBuffer.isView(model)) {
    return { bytes: new Uint8Array(model.buffer, model.byteOffset, model.byteLength), where: 'model bytes' };
  }
  const url = model instanceof URL ? model : undefined;
  if (typeof model !== 'string' && url === undefined) {
    throw new InputError(`model must be a URL, a path or bytes (Uint8Array, ArrayBuffer), got ${show(model)}`);
  }
  if (IN_NODE && (url === undefined ? !/^https?:\/\//.test(model) : url.protocol === 'file:')) {
    const { readFile } = await import('node:fs/promises');
    try {
      return { bytes: new Uint8Array(await readFile(model)), where: String(model) };
    } catch (error) {
      throw new ModelError(`cannot read model ${model}: ${error.code ?? error.message}`);
    }
  }
  const address = url ?? new URL(model, globalThis.document?.baseURI);
  let response;
  try {
    response = await fetch(address);
  } catch (error) {
    throw new ModelError(`cannot fetch model ${address}: ${error.message}`);
  }
  if (!response.ok) throw new ModelError(`cannot fetch model ${address}: HTTP ${response.status}`);
  return { bytes: new Uint8Array(await response.arrayBuffer()), where: String(address) };
}

/**
 * 'wasm': onnxruntime-web (its wasm-only build in a browser, its Node entry in Node);
 * 'node': onnxruntime-node (native, Node only).
 */
async function importRuntime(runtime) {
  const name = { wasm: IN_NODE ? 'onnxruntime-web' : 'onnxruntime-web/wasm', node: 'onnxruntime-node' }[runtime];
  if (name === undefined || (runtime === 'node' && !IN_NODE)) {
    const accepted = IN_NODE ? '"node" or "wasm"' : '"wasm"';
    throw new InputError(`runtime must be ${accepted}, got ${show(runtime)}`);
  }
  try {
    return await import(name);
  } catch (error) {
    throw new ModelError(`cannot import ${name} (${error.message}); run npm ci in web/`);
  }
}

function checkThreads(threads) {
  if (threads !== undefined && (!Number.isInteger(threads) || threads <= 0)) {
    throw new InputError(`threads must be a positive integer, got ${show(threads)}`);
  }
  return threads;
}

function sessionOptions(ort, runtime, threads) {
  ort.env.logLevel = 'error'; // the overridable-initializer warnings are expected (the morph inputs)
  const options = { logSeverityLevel: 3, graphOptimizationLevel: 'all' };
  if (runtime === 'wasm') {
    // applies when the wasm module starts, i.e. the first session; > 1 needs cross-origin isolation
    ort.env.wasm.numThreads = threads ?? 1;
    options.executionProviders = ['wasm'];
  } else if (threads !== undefined) {
    options.intraOpNumThreads = threads;
    options.interOpNumThreads = 1;
  }
  return options;
}

/**
 * Open a generator. `model`: a URL, a path (Node) or the .onnx bytes. Options: `runtime`
 * ('wasm' | 'node', default 'node' in Node and 'wasm' in a browser) and
 * `threads` (wasm default 1; native default onnxruntime's choice).
 */
export async function load(model, options = {}) {
  const { ort, session, where, proto, latentDim, sha256 } = await openModel(model, options, 'generator');
  try {
    const labels = metadataLabels(proto.metadata, where);
    return new Generator(ort, session, { ...readSpec(session, where, latentDim), labels, where, proto, sha256 });
  } catch (error) {
    await session.release();
    throw error;
  }
}

/** An mnistgen model of `kind`: its session, metadata and sha256, checked before the session opens. */
async function openModel(model, options, kind) {
  const accepted = kind === 'encoder' ? ['generator', 'runtime', 'threads'] : ['runtime', 'threads'];
  const { runtime = IN_NODE ? 'node' : 'wasm', threads } = checkOptions(options, accepted);
  checkThreads(threads);
  // the runtime's code loads while the model downloads; a bad model is still reported first
  const runtimeImport = importRuntime(runtime);
  runtimeImport.catch(() => {}); // awaited below; unobserved until then
  const { bytes, where } = await readBytes(model);
  const proto = readModelProto(bytes, where);
  checkKind(proto.metadata, where, kind);
  const latentDim = metadataLatentDim(proto.metadata, where);
  const sha256 = await digest(bytes);
  const ort = await runtimeImport;
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions(ort, runtime, threads));
  } catch (error) {
    const reason = String(error.message ?? error).trim().split('\n')[0].slice(0, 200);
    throw new ModelError(`cannot load model ${where}: onnxruntime refused it (${reason})`);
  }
  return { ort, session, where, proto, latentDim, sha256 };
}

async function digest(bytes) {
  const hash = new Uint8Array(await webCrypto.subtle.digest('SHA-256', bytes));
  return Array.from(hash, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * Open an encoder for `generator` (a loaded Generator): it must be the encoder trained for that
 * generator's file (its metadata's generator_sha256), or ModelError says so. Options as load's.
 */
export async function loadEncoder(model, options = {}) {
  const { generator } = checkOptions(options, ['generator', 'runtime', 'threads']);
  if (!(generator instanceof Generator)) {
    throw new InputError(`loadEncoder needs { generator }: the Generator from load() it encodes for, got ${show(generator)}`);
  }
  const { ort, session, where, proto, latentDim } = await openModel(model, options, 'encoder');
  try {
    const paired = proto.metadata.generator_sha256;
    if (paired !== generator.sha256 || latentDim !== generator.latentDim) {
      throw new ModelError(
        `${where} is an encoder for another generator (it was trained for ${proto.metadata.generator_file ?? '?'} sha256 `
        + `${String(paired).slice(0, 12)}, this generator ${generator.source} is ${generator.sha256.slice(0, 12)}); `
        + 'retrain and export the encoder for this generator (docs/handwriting.md)',
      );
    }
    const inputs = byName(session.inputMetadata);
    for (const name of ['image', 'digit']) {
      if (!(name in inputs)) throw new ModelError(`${where}: model lacks input ${name}`);
    }
    return new Encoder(ort, session, { latentDim, where, proto });
  } catch (error) {
    await session.release();
    throw error;
  }
}

function byName(values) {
  return Object.fromEntries(values.map((value) => [value.name, value]));
}

/** Inputs, latent size and image shape from the session, checked as Python's model_spec does. */
function readSpec(session, where, latentDim) {
  const inputs = byName(session.inputMetadata);
  const outputs = byName(session.outputMetadata);
  const require = (available, names, what) => {
    const missing = names.filter((name) => !(name in available));
    if (missing.length > 0) {
      const has = Object.keys(available).sort().join(', ') || 'none';
      throw new ModelError(`${where}: model lacks ${what} ${missing.join(', ')} (has ${has})`);
    }
  };
  require(inputs, ['z', 'digit'], 'inputs');
  require(outputs, ['image'], 'output');
  const unknown = Object.keys(inputs).filter((name) => !['z', 'digit', ...MORPH_INPUTS].includes(name));
  if (unknown.length > 0) {
    throw new ModelError(`${where}: unexpected required inputs ${unknown.sort().join(', ')}; accepted: z, digit, digit_to, mix`);
  }
  const zWidth = inputs.z.shape?.at(-1);
  if (Number.isInteger(zWidth) && zWidth !== latentDim) {
    throw new ModelError(`${where}: input z has width ${zWidth} but metadata latent_dim is ${latentDim}`);
  }
  const shape = outputs.image.shape ?? [];
  const fixed = shape.length === 4 && shape.slice(1).every((size) => Number.isInteger(size) && size > 0);
  if (!fixed || shape[1] !== 1) {
    throw new ModelError(`${where}: image must have shape [N, 1, height, width] with fixed sizes, got [${shape.join(', ')}]`);
  }
  return { latentDim, height: shape[2], width: shape[3], inputNames: Object.keys(inputs) };
}

// ---------------------------------------------------------------------------------------------
// Style controls, as mnistgen.style does them in Python (docs/style.md): the stroke width and
// slant measured on the 28 x 28 output, and each sample steered in its digit's style plane (the
// model's metadata 'style') until both are on target. Sums go in numpy's pairwise order, so a
// sample takes the same path here as in Python.

export const STYLE = Object.freeze({
  controls: ['stroke_width', 'slant'],
  tolerance: [0.2, 3.0],
  maxRounds: 8,
  maxStep: 6.0,
  slopes: [0.25, 4.0],
  holdBlend: 0.5,
  limits: [[1.0, 4.0], [-40.0, 45.0]],
  aimGrid: 35,
  legibilityShrink: 0.5,
  inkLevel: 128,
});

const identity = (value) => value;

/** (stroke width px, slant degrees) of each image: Float64Array(count * 2), as mnistgen.style.measure. */
export function measureStyle(pixels, count, height, width) {
  const size = height * width;
  const out = new Float64Array(count * 2);
  for (let n = 0; n < count; n += 1) {
    const image = pixels.subarray(n * size, (n + 1) * size);
    out[2 * n] = strokeWidthOf(image, height, width);
    out[2 * n + 1] = slantOf(image, height, width);
  }
  return out;
}

function strokeWidthOf(image, height, width) {
  const ink = (row, col) => (row >= 0 && row < height && col >= 0 && col < width && image[row * width + col] >= STYLE.inkLevel ? 1 : 0);
  let area = 0;
  let edges = 0;
  for (let row = -1; row < height; row += 1) {
    for (let col = -1; col < width; col += 1) {
      const here = ink(row, col);
      if (row >= 0 && col >= 0) area += here;
      if (col >= 0 && here !== ink(row + 1, col)) edges += 1;
      if (row >= 0 && here !== ink(row, col + 1)) edges += 1;
    }
  }
  return (2.0 * area) / Math.max(edges, 1);
}

function slantOf(image, height, width) {
  // raw moments: integer sums, exact in any order, so numpy's matrix product gives the same
  let mass = 0;
  let sumRow = 0;
  let sumCol = 0;
  let sumRowCol = 0;
  let sumRowRow = 0;
  for (let row = 0; row < height; row += 1) {
    for (let col = 0; col < width; col += 1) {
      const w = image[row * width + col];
      mass += w;
      sumRow += w * row;
      sumCol += w * col;
      sumRowCol += w * row * col;
      sumRowRow += w * row * row;
    }
  }
  mass = Math.max(mass, 1e-12);
  const meanRow = sumRow / mass;
  const meanCol = sumCol / mass;
  const muXY = sumRowCol / mass - meanRow * meanCol;
  const muYY = sumRowRow / mass - meanRow * meanRow;
  return Math.atan(-muXY / Math.max(muYY, 1e-12)) * (180 / Math.PI); // numpy's degrees: x * (180 / pi)
}

/** The model's style fit, checked; ModelError for a model without one. */
function styleSpace(info, where, latentDim) {
  const space = info.style;
  if (space === undefined) {
    throw new ModelError(`${where} has no style directions, so stroke width and slant cannot be asked for; `
      + 'use a model exported with mnistgen-export --style');
  }
  const shaped = (value, dims) => (dims.length === 0 ? Number.isFinite(value)
    : Array.isArray(value) && value.length === dims[0] && value.every((part) => shaped(part, dims.slice(1))));
  const shapes = { intercept: [10, 2], gradient: [10, 2, latentDim], directions: [10, 2, latentDim], ranges: [10, 2, 2] };
  for (const [name, dims] of Object.entries(shapes)) {
    if (!shaped(space?.[name], dims)) {
      throw new ModelError(`${where}: metadata style ${name} must be finite numbers of shape (${dims.join(', ')})`);
    }
  }
  // a file fitted before the levels: its ranges hold at legibility 0
  const levels = space.levels ?? [0];
  const levelRanges = space.level_ranges ?? space.ranges.map((digit) => digit.map((range) => [range]));
  const rising = shaped(levels, [levels.length]) && levels[0] === 0 && levels.at(-1) <= 1
    && levels.every((level, k) => k === 0 || level > levels[k - 1]);
  if (!rising || !shaped(levelRanges, [10, 2, levels.length, 2])) {
    throw new ModelError(`${where}: metadata style levels must rise from 0 to at most 1, with level_ranges of shape (10, 2, ${levels.length}, 2)`);
  }
  // a file fitted before the calibration: the first step aims at the target itself
  const zeros = () => Array.from({ length: STYLE.aimGrid }, () => [0, 0]);
  const aimOffsets = space.aim_offsets ?? Array.from({ length: 10 }, () => [0, 1].map(() => levels.map(zeros)));
  if (!shaped(aimOffsets, [10, 2, levels.length, STYLE.aimGrid, 2])) {
    const shape = `(10, 2, ${levels.length}, ${STYLE.aimGrid}, 2)`;
    throw new ModelError(`${where}: metadata style aim_offsets must be finite numbers of shape ${shape}`);
  }
  return { ...space, levels, levelRanges, aimOffsets };
}

/**
 * How far past its goals a sample's first step aims, drawn at legibility `drawn`, as Python's
 * aim_offsets: each asked control's own offset at its target, plus, for the other control, the
 * offset that target calls for; linear between grid targets and between levels.
 */
function aimOffsets(space, digit, goals, drawn) {
  const { levels } = space;
  const k = Math.min(Math.max(levels.filter((level) => level <= drawn).length - 1, 0), Math.max(levels.length - 2, 0));
  const upper = Math.min(k + 1, levels.length - 1);
  const weight = Math.min(Math.max((drawn - levels[k]) / (upper > k ? levels[upper] - levels[k] : 1), 0), 1);
  const out = [0, 0];
  goals.forEach((target, control) => {
    if (Number.isNaN(target)) return;
    const [low, high] = STYLE.limits[control];
    const position = (target - low) / ((high - low) / (STYLE.aimGrid - 1));
    const i = Math.min(Math.max(Math.floor(position), 0), STYLE.aimGrid - 2);
    const t = position - i;
    const table = space.aimOffsets[digit][control];
    const at = (level, j) => table[level][i][j] + t * (table[level][i + 1][j] - table[level][i][j]);
    [0, 1].forEach((j) => { out[j] += at(k, j) + weight * (at(upper, j) - at(k, j)); });
  });
  return out;
}

/** The least legibility of the fit's levels whose ranges hold both targets (NaN: free), as Python's needed_legibility. */
function neededLegibility(space, digit, goals) {
  let needed = 0;
  goals.forEach((target, control) => {
    const k = space.levelRanges[digit][control].findIndex(([low, high]) => target >= low - 1e-9 && target <= high + 1e-9);
    if (k >= 0) needed = Math.max(needed, space.levels[k]);
  });
  return needed;
}

function checkStyleNumber(value, name, accepted) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InputError(`${name} must be a number ${accepted}, got ${show(value)}`);
  return value;
}

/**
 * Each control's own axis in the style plane, as Python's _axes: the move that changes it by one
 * unit and, by the fit, the other not at all (J^-1 applied to the directions, in closed form).
 */
function styleAxes([d0, d1], g0, g1, dot) {
  const [a, b, c, d] = [dot(g0, d0), dot(g0, d1), dot(g1, d0), dot(g1, d1)];
  const det = a * d - b * c;
  const inverse = [[d / det, -b / det], [-c / det, a / det]];
  return [0, 1].map((i) => Float64Array.from(d0, (value, k) => inverse[0][i] * value + inverse[1][i] * d1[k]));
}

/**
 * The checked style options of a call: {goals: [width, slant] (NaN: free), legibility, steered}.
 * `fit()` gives the model's checked style fit; it is called only when a target is asked, since a
 * model without one still takes legibility.
 */
function checkStyle(fit, digits, { strokeWidth, slant, legibility }) {
  const targets = [checkStyleNumber(strokeWidth, 'strokeWidth', "within the digit's range (styleRanges lists them)"),
    checkStyleNumber(slant, 'slant', "within the digit's range (styleRanges lists them)")];
  const shrink = checkStyleNumber(legibility, 'legibility', 'from 0 to 1');
  if (shrink !== undefined && !(shrink >= 0 && shrink <= 1)) throw new InputError(`legibility must be a number from 0 to 1, got ${shrink}`);
  const steered = targets.some((target) => target !== undefined);
  if (steered) {
    const space = fit();
    for (const digit of [...new Set(String(digits))].map(Number).sort()) {
      targets.forEach((target, control) => {
        const [low, high] = space.ranges[digit][control];
        if (target !== undefined && !(target >= low - 1e-9 && target <= high + 1e-9)) {
          const name = ['strokeWidth', 'slant'][control];
          const unit = ['px', 'degrees'][control];
          throw new InputError(`${name} for digit ${digit} must be from ${low} to ${high} ${unit} (legible there), got ${target}`);
        }
      });
    }
  }
  return { goals: targets.map((target) => target ?? NaN), legibility: shrink ?? 0, steered };
}

/** z pulled towards the typical hand: z x (1 - legibilityShrink x legibility), in float32. */
function legible(z, legibility) {
  if (!legibility) return z;
  const factor = Math.fround(1 - STYLE.legibilityShrink * legibility); // as numpy: the float64 product, then float32
  return z.map((value) => Math.fround(value * factor));
}

const STYLE_OPTIONS = ['strokeWidth', 'slant', 'legibility'];

// ---------------------------------------------------------------------------------------------
// The generator

/** float 0..1 -> uint8 as numpy does it: float32 product, rounded half to even, clipped. */
function toGrey(value) {
  const scaled = Math.fround(value * 255);
  let rounded = Math.round(scaled);
  if (rounded - scaled === 0.5 && rounded % 2 !== 0) rounded -= 1; // Math.round takes .5 up; rint takes it to even
  return rounded < 0 ? 0 : rounded > 255 ? 255 : rounded;
}

function checkLatents(latents, latentDim) {
  let array = latents;
  if (Array.isArray(latents)) array = Float32Array.from(latents.flat());
  const rows = array instanceof Float32Array ? array.length / latentDim : NaN;
  if (!Number.isInteger(rows) || rows < 1 || rows > MAX_COUNT) {
    throw new InputError(
      `latents must be a Float32Array of count x ${latentDim} numbers with count 1-${MAX_COUNT}, got ${show(latents)}`,
    );
  }
  if (!array.every(Number.isFinite)) throw new InputError('latents must be finite numbers (no NaN or Infinity)');
  return { z: array, rows };
}

class Generator {
  #styleFit;

  constructor(ort, session, spec) {
    this.ort = ort;
    this.session = session;
    this.latentDim = spec.latentDim;
    this.height = spec.height;
    this.width = spec.width;
    this.labels = spec.labels;
    this.inputNames = spec.inputNames;
    this.source = spec.where;
    /** sha256 of the model file (hex): what an encoder records of the generator it was trained for. */
    this.sha256 = spec.sha256;
    /** The model's metadata_props, JSON values decoded. */
    this.info = decodeMetadata(spec.proto.metadata);
    this.irVersion = spec.proto.irVersion;
    this.opsetImport = spec.proto.opsetImport;
  }

  /**
   * `count` images of `digit`: {pixels: Uint8Array(count*height*width), count, height, width},
   * white on black. Options: count (1-100,000, default 1, or the latents' count), seed (same
   * seed, same images within JS) or latents (Float32Array of count x latentDim); strokeWidth (px),
   * slant (degrees) and legibility (0-1) as Python's stroke_width, slant and legibility.
   */
  async generate(digit, options = {}) {
    const { count, seed, latents, ...rest } = checkOptions(options, ['count', 'seed', 'latents', ...STYLE_OPTIONS]);
    checkDigit(digit);
    const style = checkStyle(() => this.#style(), digit, rest);
    const { z, rows } = this.#latents(count, seed, latents, MAX_COUNT);
    return this.#images(await this.#styled(z, rows, digit, style), rows, this.width);
  }

  /**
   * One number per sample, all its digits in one hand (they share the sample's latent):
   * {pixels, count, height, width: width x digits.length}. Options: count, seed, or latents
   * with optional shifts (Int8Array/array of count x digits.length, each -2..2 px; default 0).
   */
  async number(digits, options = {}) {
    const { count, seed, latents, shifts, ...rest } = checkOptions(options, ['count', 'seed', 'latents', 'shifts', ...STYLE_OPTIONS]);
    checkNumber(digits);
    const style = checkStyle(() => this.#style(), digits, rest);
    const length = digits.length;
    if (shifts !== undefined && latents === undefined) {
      throw new InputError('shifts go with latents: pass latents and shifts, or a seed');
    }
    const limit = Math.max(1, Math.floor(MAX_COUNT / length));
    const { z, rows, seedValue } = this.#latents(count, seed, latents, limit);
    const offsets = latents === undefined ? drawShifts(new Stream(seedValue, 1), rows, length) : checkShifts(shifts, rows, length);
    const { height, width } = this;
    const canvasWidth = width * length;
    const canvas = new Uint8Array(rows * height * canvasWidth);
    for (const char of new Set(digits)) { // "1111" renders once
      const tiles = await this.#styled(z, rows, Number(char), style);
      for (let position = 0; position < length; position += 1) {
        if (digits[position] !== char) continue;
        for (let row = 0; row < rows; row += 1) {
          const left = width * position + offsets[row * length + position];
          pasteMax(canvas, canvasWidth, row, tiles, height, width, left);
        }
      }
    }
    return this.#images(canvas, rows, canvasWidth);
  }

  /** Each control's range for `digit` as the model's style fit says ({strokeWidth, slant}: [low, high]), or null without one. */
  styleRanges(digit) {
    checkDigit(digit);
    if (this.info.style === undefined) return null;
    const [strokeWidth, slant] = this.#style().ranges[digit];
    return { strokeWidth, slant };
  }

  /** The style fit, checked on first use and kept: a steered call doesn't walk its arrays again. */
  #style() {
    this.#styleFit ??= styleSpace(this.info, this.source, this.latentDim);
    return this.#styleFit;
  }

  /**
   * render(), with the style asked applied: legibility scales z, a target steers each sample
   * (Python's steer); a target beyond the range of the legibility asked draws at the least one that holds it.
   */
  async #styled(z, rows, digit, style) {
    if (!style.steered) return this.render(legible(z, style.legibility), digit);
    const space = this.#style();
    const drawn = Math.max(style.legibility, neededLegibility(space, digit, style.goals));
    const latents = legible(z, drawn);
    const D = this.latentDim;
    const [g0, g1] = space.gradient[digit];
    const dot = (a, b, offset = 0) => pairwiseSum(Float64Array.from(b, (value, i) => a[offset + i] * value), identity);
    const axes = styleAxes(space.directions[digit], g0, g1, dot);
    const limit = axes.map((axis) => STYLE.maxStep / Math.sqrt(dot(axis, axis)));
    const clip = (value, c) => Math.min(Math.max(value, -limit[c]), limit[c]);
    const fit = (w, n) => [space.intercept[digit][0] + dot(w, g0, n * D), space.intercept[digit][1] + dot(w, g1, n * D)];
    // a free control is held near the fit's reading of the sample at the legibility asked
    const plain = drawn === style.legibility ? latents : legible(z, style.legibility);
    // the first step aims past a far target by what the fit is known to miss it by there
    const offset = aimOffsets(space, digit, style.goals, drawn);
    const start = new Float64Array(rows * 2);
    const goal = new Float64Array(rows * 2);
    const step = new Float64Array(rows * 2);
    for (let n = 0; n < rows; n += 1) {
      const [s0, s1] = fit(latents, n);
      const own = plain === latents ? [s0, s1] : fit(plain, n);
      [s0, s1].forEach((value, c) => {
        start[2 * n + c] = value;
        goal[2 * n + c] = Number.isNaN(style.goals[c]) ? own[c] : style.goals[c];
        step[2 * n + c] = clip(goal[2 * n + c] + offset[c] - value, c);
      });
    }
    const moved = (n) => Float32Array.from({ length: D }, (_, j) => latents[n * D + j] + (step[2 * n] * axes[0][j] + step[2 * n + 1] * axes[1][j]));
    const current = new Float32Array(rows * D);
    for (let n = 0; n < rows; n += 1) current.set(moved(n), n * D);
    const size = this.height * this.width;
    const images = await this.render(current, digit);
    const measured = measureStyle(images, rows, this.height, this.width);
    style.goals.forEach((target, c) => { // a free control's goal: blended towards its first render, as Python's
      if (!Number.isNaN(target)) return;
      const [low, high] = STYLE.limits[c];
      for (let n = 0; n < rows; n += 1) {
        if (drawn === style.legibility) goal[2 * n + c] += STYLE.holdBlend * (measured[2 * n + c] - goal[2 * n + c]);
        goal[2 * n + c] = Math.min(Math.max(goal[2 * n + c], low), high); // within the limits, as Python's
      }
    });
    const slopes = new Float64Array(rows * 2).fill(1);
    const secant = (i, move, change) => { // as Python's _secant
      if (!(Math.abs(move) > 1e-9)) return;
      const ratio = change / move;
      if (ratio > STYLE.slopes[0]) slopes[i] = Math.min(ratio, STYLE.slopes[1]);
    };
    for (let i = 0; i < rows * 2; i += 1) secant(i, step[i], measured[i] - start[i]);
    for (let round = 0; round < STYLE.maxRounds; round += 1) {
      const off = [];
      for (let n = 0; n < rows; n += 1) {
        if ([0, 1].some((c) => Math.abs(goal[2 * n + c] - measured[2 * n + c]) > STYLE.tolerance[c])) off.push(n);
      }
      if (off.length === 0) break;
      const moves = off.map((n) => [0, 1].map((c) => clip((goal[2 * n + c] - measured[2 * n + c]) / slopes[2 * n + c], c)));
      const again = new Float32Array(off.length * D);
      off.forEach((n, k) => {
        step[2 * n] += moves[k][0];
        step[2 * n + 1] += moves[k][1];
        again.set(moved(n), k * D);
      });
      const redrawn = await this.render(again, digit);
      const now = measureStyle(redrawn, off.length, this.height, this.width);
      off.forEach((n, k) => {
        [0, 1].forEach((c) => {
          secant(2 * n + c, moves[k][c], now[2 * k + c] - measured[2 * n + c]);
          measured[2 * n + c] = now[2 * k + c];
        });
        images.set(redrawn.subarray(k * size, (k + 1) * size), n * size);
      });
    }
    return images;
  }

  #latents(count, seed, latents, limit) {
    if (latents !== undefined) {
      if (seed !== undefined) throw new InputError('latents cannot be combined with seed: pass either latents or a seed');
      const { z, rows } = checkLatents(latents, this.latentDim);
      if (rows > limit) checkCount(rows, limit);
      if (count !== undefined && count !== rows) {
        throw new InputError(`count (${show(count)}) must match the number of latents (${rows}) or be omitted`);
      }
      return { z, rows };
    }
    const rows = checkCount(count ?? 1, limit);
    const seedValue = checkSeed(seed) ?? freshSeed();
    return { z: drawLatents(new Stream(seedValue, 0), rows, this.latentDim), rows, seedValue };
  }

  #images(pixels, count, width) {
    return { pixels, count, height: this.height, width };
  }

  /** Low level: latents z (Float32Array, rows x latentDim) -> uint8 pixels, in batches of BATCH_SIZE. */
  async render(z, digit) {
    const { rows } = checkLatents(z, this.latentDim);
    checkDigit(digit);
    const size = this.height * this.width;
    const out = new Uint8Array(rows * size);
    for (let start = 0; start < rows; start += BATCH_SIZE) {
      const n = Math.min(BATCH_SIZE, rows - start);
      const feeds = {
        z: new this.ort.Tensor('float32', z.subarray(start * this.latentDim, (start + n) * this.latentDim), [n, this.latentDim]),
        digit: new this.ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(digit)), [n]),
      };
      // a model may require the morph inputs even for plain digits: then blend a label with itself
      if (this.inputNames.includes('digit_to')) {
        feeds.digit_to = new this.ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(digit)), [n]);
      }
      if (this.inputNames.includes('mix')) feeds.mix = new this.ort.Tensor('float32', new Float32Array(n), [n]);
      const { image } = await this.session.run(feeds);
      const values = image.data;
      for (let i = 0; i < n * size; i += 1) out[start * size + i] = toGrey(values[i]);
      image.dispose?.();
    }
    return out;
  }

  async release() {
    await this.session.release();
  }
}

function drawShifts(stream, rows, length) {
  const shifts = new Int8Array(rows * length);
  for (let row = 0; row < rows; row += 1) {
    for (let position = 0; position < length; position += 1) {
      let shift = stream.integer(-NUMBER_JITTER, NUMBER_JITTER);
      // the outer digits only move inwards: nothing is cut off
      if (position === 0) shift = Math.max(shift, 0);
      if (position === length - 1) shift = Math.min(shift, 0);
      shifts[row * length + position] = shift;
    }
  }
  return shifts;
}

function checkShifts(shifts, rows, length) {
  const values = shifts === undefined ? new Int8Array(rows * length) : shifts;
  const valid = (Array.isArray(values) || ArrayBuffer.isView(values)) && values.length === rows * length
    && Array.from(values).every((s) => Number.isInteger(s) && Math.abs(s) <= NUMBER_JITTER);
  if (!valid) {
    throw new InputError(
      `shifts must be ${rows} x ${length} integers from -${NUMBER_JITTER} to ${NUMBER_JITTER} (one per sample and digit), got ${show(shifts)}`,
    );
  }
  return Int8Array.from(values);
}

/** Overlaps merge with max, which is what ink on ink looks like in white-on-black. */
function pasteMax(canvas, canvasWidth, row, tiles, height, width, left) {
  const start = Math.max(left, 0);
  const stop = Math.min(left + width, canvasWidth);
  for (let y = 0; y < height; y += 1) {
    const target = (row * height + y) * canvasWidth;
    const source = (row * height + y) * width - left;
    for (let x = start; x < stop; x += 1) {
      const value = tiles[source + x];
      if (value > canvas[target + x]) canvas[target + x] = value;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Handwriting: the encoder, preparing a picture as MNIST's, and variations of a hand

function checkDigits(digits, count) {
  const values = typeof digits === 'number' ? new Array(count).fill(digits) : Array.from(digits ?? []);
  if (values.length !== count) {
    throw new InputError(`digits must be one digit 0-9 or one per image (${count}), got ${show(digits)}`);
  }
  values.forEach(checkDigit);
  return values;
}

class Encoder {
  constructor(ort, session, spec) {
    this.ort = ort;
    this.session = session;
    this.latentDim = spec.latentDim;
    this.source = spec.where;
    this.info = decodeMetadata(spec.proto.metadata);
  }

  /**
   * Prepared digits (Uint8Array of count x 28 x 28, white on black, as prepare or
   * Python's mnistgen.prepare make them) and the digit each shows (one for all, or one each) ->
   * {latents: Float32Array(count x latentDim), count}: the generator redraws image i from
   * latent i; with another digit it writes that digit in the same hand.
   */
  async encode(images, digits) {
    const size = SIDE * SIDE;
    const count = images instanceof Uint8Array ? images.length / size : NaN;
    if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
      throw new InputError(`images must be a Uint8Array of count x ${SIDE} x ${SIDE} prepared digits, got ${show(images)}`);
    }
    const labels = checkDigits(digits, count);
    const latents = new Float32Array(count * this.latentDim);
    for (let start = 0; start < count; start += BATCH_SIZE) {
      const n = Math.min(BATCH_SIZE, count - start);
      const unit = new Float32Array(n * size);
      // float32 division, as Python's uint8_to_unit
      for (let i = 0; i < n * size; i += 1) unit[i] = Math.fround(images[start * size + i] / 255);
      const feeds = {
        image: new this.ort.Tensor('float32', unit, [n, 1, SIDE, SIDE]),
        digit: new this.ort.Tensor('int64', BigInt64Array.from(labels.slice(start, start + n), BigInt), [n]),
      };
      const { latent } = await this.session.run(feeds);
      latents.set(latent.data, start * this.latentDim);
      latent.dispose?.();
    }
    return { latents, count };
  }

  async release() {
    await this.session.release();
  }
}

/**
 * Luminance 0..1 of a picture of one digit (Float32Array(height x width), row-major, dark on
 * light or light on dark) -> a 28 x 28 digit prepared as MNIST's (Uint8Array, white on black):
 * Python's mnistgen.prepare step for step, in float32 where numpy works in float32 and with
 * Pillow's resampling, so the two agree within 1 grey level (tests/test_web_handwriting.py).
 * The paper is found (the light side), ink is what is darker than its local paper, cropped to
 * all but 0.2% of its mass at each side, thin strokes thickened to MNIST's width, scaled into a
 * 20 x 20 box (bilinear, the darkest ink at 255) and placed with its centre of mass at 14, 14.
 * `where` names the picture and `takes` ends a refusal (an InputError, Python's wording).
 */
export function prepare(grey, height, width, { where = 'the picture', takes = PREPARE_TAKES } = {}) {
  if (!(grey instanceof Float32Array) || !Number.isInteger(height) || !Number.isInteger(width)
      || height < 1 || width < 1 || grey.length !== height * width) {
    throw new InputError(`grey must be a Float32Array of height x width values 0..1, got ${show(grey)}`);
  }
  const refuse = (what) => new InputError(`${where} ${what}; ${takes}`);
  if (!grey.every(Number.isFinite)) throw refuse('has non-finite pixels (NaN or infinity; greys must be finite numbers)');
  let image = { data: grey, height, width };
  const [low, middle, high] = quantiles(image, [0.005, 0.5, 0.995]);
  if (high - low < PREPARE.minContrast) {
    throw refuse(pairwiseSum(grey) / grey.length >= 0.5 ? 'is blank (one light tone, no ink)' : 'is all ink (one dark tone, no paper)');
  }
  if (middle < 0.5) image = { ...image, data: grey.map((value) => 1 - value) }; // light ink on dark paper: paper light
  const ink = inkOf(image);
  const peak = peakOf(ink.data);
  if (peak < PREPARE.minInk) throw refuse('is blank (no marks darker than the paper around them)');
  const [floor, span] = [Math.fround(0.3 * peak), Math.fround(0.45 * peak)]; // numpy casts the scalars to float32
  ink.data = ink.data.map((value) => clip(Math.fround(Math.fround(value - floor) / span), 0, 1));
  if (ink.data.filter((value) => value >= 0.5).length / ink.data.length > 0.6) {
    throw refuse('is all ink (ink covers most of it, no digit on paper)');
  }
  let crop = cropOf(ink);
  const thick = thicken(crop, PREPARE.box / Math.max(crop.height, crop.width));
  if (thick !== crop) crop = cropOf(thick);
  return place(resizeToBox(crop, PREPARE.box / Math.max(crop.height, crop.width)));
}

/**
 * The drawing pad's ink (Float32Array(height x width), 0 = paper, 1 = full ink) -> prepare's
 * digit for the luminance 1 - ink.
 */
export function prepareDrawing(ink, height, width) {
  if (!(ink instanceof Float32Array)) {
    throw new InputError(`ink must be a Float32Array of height x width values 0..1, got ${show(ink)}`);
  }
  return prepare(ink.map((value) => 1 - value), height, width, { where: 'the drawing', takes: 'draw one digit first' });
}

const clip = (value, low, high) => (value < low ? low : value > high ? high : value);

/** Python's round(): half to even. */
function roundHalfEven(value) {
  const rounded = Math.round(value);
  return rounded - value === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/**
 * numpy's sum of contiguous values (a row, or a whole array): pairwise in blocks of 8 below 128
 * values, halves above. `round` is Math.fround for float32 arrays, the identity for float64.
 */
function pairwiseSum(values, round = Math.fround, start = 0, count = values.length) {
  if (count < 8) {
    let total = 0;
    for (let i = start; i < start + count; i += 1) total = round(total + values[i]);
    return total;
  }
  if (count <= 128) {
    const lanes = Array.from(values.subarray(start, start + 8));
    let i = 8;
    for (; i < count - (count % 8); i += 8) {
      for (let j = 0; j < 8; j += 1) lanes[j] = round(lanes[j] + values[start + i + j]);
    }
    const pair = (a, b) => round(lanes[a] + lanes[b]);
    let total = round(round(pair(0, 1) + pair(2, 3)) + round(pair(4, 5) + pair(6, 7)));
    for (; i < count; i += 1) total = round(total + values[start + i]);
    return total;
  }
  let half = Math.floor(count / 2);
  half -= half % 8;
  return round(pairwiseSum(values, round, start, half) + pairwiseSum(values, round, start + half, count - half));
}


/** ndarray.sum(axis=1) (pairwise along each row) and ndarray.sum(axis=0) (row by row) of float32 values. */
function profiles({ data, height, width }) {
  const rows = new Float32Array(height);
  for (let y = 0; y < height; y += 1) rows[y] = pairwiseSum(data, Math.fround, y * width, width);
  // numpy adds a column's values one row at a time, unless the column is the contiguous axis (width 1)
  const cols = width === 1 ? Float32Array.of(pairwiseSum(data)) : data.slice(0, width);
  if (width > 1) {
    for (let y = 1; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) cols[x] = Math.fround(cols[x] + data[y * width + x]);
    }
  }
  return { rows, cols };
}

/** The values at these fractions of the sorted values (nearest rank), on every other row and column of a large picture. */
function quantiles({ data, height, width }, fractions) {
  let sample = data;
  if (data.length > PREPARE.toneSample) {
    sample = new Float32Array(Math.ceil(height / 2) * Math.ceil(width / 2));
    let i = 0;
    for (let y = 0; y < height; y += 2) for (let x = 0; x < width; x += 2) sample[i++] = data[y * width + x];
  }
  const sorted = sample.slice().sort();
  return fractions.map((fraction) => sorted[roundHalfEven(fraction * (sorted.length - 1))]);
}

/** The 20th largest value, looked for among those of at least half the maximum when there are 20 of them. */
function peakOf(ink) {
  const rank = Math.min(20, ink.length);
  const top = ink.reduce((a, b) => (b > a ? b : a), -Infinity);
  let candidates = ink.filter((value) => value >= 0.5 * top);
  if (candidates.length < rank) candidates = ink;
  return candidates.slice().sort()[candidates.length - rank];
}

/** How much darker than its local paper (a closing of a small copy, smoothed) each pixel is, as a fraction. */
function inkOf(image) {
  const { data, height, width } = image;
  const scale = Math.min(1, PREPARE.paperSide / Math.max(height, width));
  const small = resample(image, Math.max(1, roundHalfEven(height * scale)), Math.max(1, roundHalfEven(width * scale)), boxFilter);
  const window = Math.max(3, roundHalfEven(Math.min(small.height, small.width) * PREPARE.paperWindow)) | 1;
  const closed = rankFilter(rankFilter(small, window, true), window, false);
  const smooth = resample(meanFilter3(closed), height, width, bilinearFilter);
  const floor = Math.fround(0.05);
  const ink = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += 1) {
    const paper = Math.max(smooth.data[i], data[i]); // paper is never darker than what lies on it
    ink[i] = clip(Math.fround(Math.fround(paper - data[i]) / Math.max(paper, floor)), 0, 1);
  }
  return { data: ink, height, width };
}

/** The maximum (largest) or minimum over a size x size window, the edges padded with the edge value: axis 0, then axis 1. */
function rankFilter({ data, height, width }, size, largest) {
  const reach = Math.floor(size / 2);
  const along = (source, count, stride, lines, lineStride) => {
    const out = new Float32Array(source.length);
    const padded = new Float32Array(count + size - 1); // one line, edge-padded: no bounds checks inside the window
    for (let line = 0; line < lines; line += 1) {
      for (let i = 0; i < padded.length; i += 1) padded[i] = source[line * lineStride + clip(i - reach, 0, count - 1) * stride];
      for (let i = 0; i < count; i += 1) {
        let value = padded[i];
        for (let k = i + 1; k < i + size; k += 1) {
          if (largest ? padded[k] > value : padded[k] < value) value = padded[k];
        }
        out[line * lineStride + i * stride] = value;
      }
    }
    return out;
  };
  const down = along(data, height, width, width, 1);
  return { data: along(down, width, 1, height, width), height, width };
}

/** The mean over each 3 x 3 window (edges padded with the edge value), summed in numpy's order in float32. */
function meanFilter3({ data, height, width }) {
  const out = new Float32Array(data.length);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      let total = 0;
      for (let i = -1; i <= 1; i += 1) {
        const row = clip(y + i, 0, height - 1) * width;
        for (let j = -1; j <= 1; j += 1) total = Math.fround(total + data[row + clip(x + j, 0, width - 1)]);
      }
      out[y * width + x] = Math.fround(total / 9);
    }
  }
  return { data: out, height, width };
}

/** The rows and columns holding all but TRIM of the ink mass at each side (numpy's cumsum and searchsorted). */
function cropOf(image) {
  const { rows, cols } = profiles(image);
  const span = (profile) => {
    const cumulative = new Float32Array(profile.length);
    profile.forEach((value, i) => { cumulative[i] = i ? Math.fround(cumulative[i - 1] + value) : value; });
    const total = cumulative[cumulative.length - 1];
    const first = Math.fround(Math.fround(PREPARE.trim) * total);
    const last = Math.fround(Math.fround(1 - PREPARE.trim) * total);
    let start = cumulative.findIndex((value) => value > first);
    let stop = cumulative.findIndex((value) => value >= last);
    if (start < 0) start = cumulative.length;
    stop = (stop < 0 ? cumulative.length : stop) + 1;
    return [start, Math.min(Math.max(stop, start + 1), cumulative.length)]; // numpy's slice stops at the end
  };
  const [top, bottom] = span(rows);
  const [left, right] = span(cols);
  const data = new Float32Array((bottom - top) * (right - left));
  for (let y = top; y < bottom; y += 1) {
    data.set(image.data.subarray(y * image.width + left, y * image.width + right), (y - top) * (right - left));
  }
  return { data, height: bottom - top, width: right - left };
}

/** Strokes that would be thinner than MNIST's lower quartile once scaled into the box, dilated to its median. */
function thicken(crop, scale) {
  const { data, height, width } = crop;
  let area = 0;
  let perimeter = 0;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const inked = data[y * width + x] >= 0.5;
      area += inked;
      if (y > 0 && inked !== (data[(y - 1) * width + x] >= 0.5)) perimeter += 1;
      if (x > 0 && inked !== (data[y * width + x - 1] >= 0.5)) perimeter += 1;
    }
  }
  if (area === 0 || perimeter === 0) return crop;
  const strokeWidth = (2 * area) / perimeter; // a stroke of width w and length L: area w L, perimeter 2 L
  if (strokeWidth * scale >= PREPARE.minStroke) return crop;
  const grow = roundHalfEven(PREPARE.mnistStroke / scale - strokeWidth);
  if (grow < 1) return crop;
  const [paddedHeight, paddedWidth] = [height + 2 * grow, width + 2 * grow]; // zeros around, as np.pad
  const padded = { data: new Float32Array(paddedHeight * paddedWidth), height: paddedHeight, width: paddedWidth };
  for (let y = 0; y < height; y += 1) padded.data.set(data.subarray(y * width, (y + 1) * width), (y + grow) * padded.width + grow);
  return rankFilter(padded, grow + 1, true);
}

/** The crop scaled into the box (Pillow's bilinear), negatives cut and the darkest ink at 1. */
function resizeToBox(crop, scale) {
  const side = (length) => Math.max(1, roundHalfEven(length * scale));
  const box = resample(crop, side(crop.height), side(crop.width), bilinearFilter);
  box.data = box.data.map((value) => Math.max(value, 0));
  const top = Math.fround(Math.max(box.data.reduce((a, b) => (b > a ? b : a), 0), 1e-6));
  box.data = box.data.map((value) => Math.fround(value / top));
  return box;
}

/** Into 28 x 28 with the centre of mass at 14, 14 (whole-pixel shifts, inside the field). */
function place(box) {
  const { data, height, width } = box;
  const mass = pairwiseSum(data);
  const { rows, cols } = profiles(box);
  // numpy: float32 sums times int64 positions are float64, summed pairwise
  const moment = (profile) => pairwiseSum(Float64Array.from(profile, (value, i) => value * i), (value) => value) / mass;
  const top = clip(roundHalfEven(PREPARE.centre - moment(rows)), 0, SIDE - height);
  const left = clip(roundHalfEven(PREPARE.centre - moment(cols)), 0, SIDE - width);
  const out = new Uint8Array(SIDE * SIDE);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) out[(top + y) * SIDE + left + x] = toGrey(data[y * width + x]);
  }
  return out;
}

// Pillow's resampling of float images (src/libImaging/Resample.c): a horizontal pass stored as
// float32, then a vertical one; each output pixel a normalised, double-precision weighted sum
// over a support widened by the scale when shrinking (anti-aliased).
const boxFilter = { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) };
const bilinearFilter = { support: 1, weight: (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) };

function resample(image, outHeight, outWidth, filter) {
  let { data } = image;
  if (outWidth !== image.width) data = resamplePass(data, image.height, image.width, outWidth, filter, true);
  if (outHeight !== image.height) data = resamplePass(data, image.height, outWidth, outHeight, filter, false);
  return { data: data === image.data ? data.slice() : data, height: outHeight, width: outWidth };
}

function resamplePass(data, height, width, outSize, filter, horizontal) {
  const inSize = horizontal ? width : height;
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const reciprocal = 1 / filterScale; // Pillow multiplies by it: dividing could round differently
  const taps = Array.from({ length: outSize }, (_, i) => {
    const centre = (i + 0.5) * scale;
    const from = Math.max(0, Math.trunc(centre - support + 0.5));
    const to = Math.min(inSize, Math.trunc(centre + support + 0.5));
    const weights = Array.from({ length: Math.max(0, to - from) }, (__, k) => filter.weight((k + from - centre + 0.5) * reciprocal));
    const total = weights.reduce((a, b) => a + b, 0);
    return { from, weights: total === 0 ? weights : weights.map((w) => w / total) };
  });
  const [outHeight, outWidth] = horizontal ? [height, outSize] : [outSize, width];
  const out = new Float32Array(outHeight * outWidth);
  for (let y = 0; y < outHeight; y += 1) {
    for (let x = 0; x < outWidth; x += 1) {
      const { from, weights } = taps[horizontal ? x : y];
      let total = 0;
      for (let k = 0; k < weights.length; k += 1) {
        total += (horizontal ? data[y * width + from + k] : data[(from + k) * width + x]) * weights[k];
      }
      out[y * outWidth + x] = total;
    }
  }
  return out;
}

/**
 * count latents around `latent` (Float32Array(latentDim)): the first is the hand itself, each
 * other sqrt(1 - spread^2) * latent + spread * noise (standard normal, from `seed` as JS seeds
 * go), as Python's mnistgen.variations. spread 0-1, default DEFAULT_SPREAD.
 */
export function variations(latent, count, { spread = DEFAULT_SPREAD, seed } = {}) {
  if (!(latent instanceof Float32Array) || latent.length < 1) {
    throw new InputError(`latent must be a Float32Array, got ${show(latent)}`);
  }
  checkCount(count);
  if (typeof spread !== 'number' || !(spread >= 0 && spread <= 1)) {
    throw new InputError(`spread must be a number from 0 (the hand itself) to 1 (random hands), got ${show(spread)}`);
  }
  const noise = drawLatents(new Stream(checkSeed(seed) ?? freshSeed(), 2), count, latent.length);
  const keep = Math.fround(Math.sqrt(1 - spread * spread));
  const out = new Float32Array(count * latent.length);
  for (let i = 0; i < out.length; i += 1) {
    const j = i % latent.length;
    out[i] = i < latent.length ? latent[j] : Math.fround(keep * latent[j] + Math.fround(spread) * noise[i]);
  }
  return out;
}
