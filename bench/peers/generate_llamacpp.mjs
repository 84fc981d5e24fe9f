// llama.cpp peer for `bench/run generate-cpu`: the measurements of Scalpel's GenerateBench, on the same weights
// (MODEL_DIR/model.gguf, F32) and prompts (MODEL_DIR/prompts.json), through node-llama-cpp's prebuilt CPU binary.
// usage: node generate_llamacpp.mjs NODE_LLAMA_CPP_DIR MODEL_DIR [--new N] [--reps N] [--threads N]
// Greedy (temperature 0), stopping at nothing (end-of-generation tokens are yielded like any other). Each number is a whole generation from a cleared sequence, best of the
// repetitions: prefill = prompt tokens / time to the first token; decode = the (n − 1) tokens after the first per
// sequence / (time for n tokens − time for 1). Batch 8: one context with 8 sequences, all 8 evaluated concurrently
// (node-llama-cpp puts the sequences' pending tokens in one llama_decode batch). The same rates from the process's
// CPU time ("cpu"; llama.cpp's threads spin while they wait, so only at 1 thread is it the work done). One JSON line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [pkg, modelDir, ...rest] = process.argv.slice(2);
const option = (name, fallback) => { const i = rest.indexOf(name); return i >= 0 ? Number(rest[i + 1]) : fallback; };
const newTokens = option('--new', 128), reps = option('--reps', 3), threads = option('--threads', 2);
const prompts = JSON.parse(readFileSync(join(modelDir, 'prompts.json'), 'utf8'));
const prefillLengths = Object.keys(prompts.prefill).map(Number);
const sequences = prompts.decode.length;

const { getLlama } = await import(pathToFileURL(join(pkg, 'dist', 'index.js')).href);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error', maxThreads: threads });
const model = await llama.loadModel({ modelPath: join(modelDir, 'model.gguf'), gpuLayers: 0 });
const threadOption = { ideal: threads, min: threads };
const longest = Math.max(...prefillLengths, prompts.decode[0].length + newTokens);
const single = await model.createContext({ contextSize: longest + 1, sequences: 1, threads: threadOption });
const multi = await model.createContext({ contextSize: prompts.decode[0].length + newTokens + 1, sequences, threads: threadOption });
const one = single.getSequence();
const many = Array.from({ length: sequences }, () => multi.getSequence());

async function generate(sequence, prompt, n) {
  const out = [];
  for await (const token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
    out.push(token);
    if (out.length >= n) break;
  }
  if (out.length !== n) throw new Error(`${out.length} tokens generated, ${n} asked`);
  return out;
}

// Each case clears its sequences first (so no prompt prefix is reused), then generates.
async function run(seqs, ps, n) {
  await Promise.all(seqs.map(s => s.clearHistory()));
  return Promise.all(seqs.map((s, i) => generate(s, ps[i], n)));
}

const cases = [
  ...prefillLengths.map(len => [`prefill_${len}`, [one], [prompts.prefill[len]], 1]),
  ['b1_first', [one], [prompts.decode[0]], 1],
  ['b1_all', [one], [prompts.decode[0]], newTokens],
  ['b8_first', many, prompts.decode, 1],
  ['b8_all', many, prompts.decode, newTokens],
];
for (const [, seqs, ps, n] of cases) await run(seqs, ps, Math.min(4, n));   // warm-up
const best = Object.fromEntries(cases.map(([name]) => [name, Infinity]));
const bestCpu = { ...best };
const cpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };   // every thread of the process
let tokensB1 = [];
for (let rep = 0; rep < reps; rep++) {
  for (const [name, seqs, ps, n] of cases) {
    const c0 = cpuSeconds(), t0 = performance.now();
    const out = await run(seqs, ps, n);
    best[name] = Math.min(best[name], (performance.now() - t0) / 1000);
    bestCpu[name] = Math.min(bestCpu[name], cpuSeconds() - c0);
    if (name === 'b1_all') tokensB1 = out[0];
  }
}
function rates(seconds) {
  const r = {};
  for (const len of prefillLengths) r[`prefill_${len}`] = len / seconds[`prefill_${len}`];
  r.decode_b1 = (newTokens - 1) / (seconds.b1_all - seconds.b1_first);
  r.decode_b8 = sequences * (newTokens - 1) / (seconds.b8_all - seconds.b8_first);
  return r;
}
const result = rates(best);
result.cpu = rates(bestCpu);
result.seconds = best;
result.tokens_b1 = tokensB1;
result.threads = threads;
result.flash_attention = single.flashAttention;
result.peak_rss_mb = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify(result));
await multi.dispose();
await single.dispose();
await model.dispose();
process.exit(0);
