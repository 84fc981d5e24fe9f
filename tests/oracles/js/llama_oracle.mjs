// llama.cpp (through node-llama-cpp's prebuilt CPU binary, offline) as the oracle for Scalpel's GGUF export.
// usage: node llama_oracle.mjs IN.json OUT.json
//   IN:  {"models": [{"path": "model.gguf", "lora": "adapter.gguf"?, "tokenize": ["text", ...], "prompts": [[ids], ...],
//                     "generate": N, "logits": false, "vocab": n}, ...]}
//   OUT: {"models": [{"tokens": [[ids], ...], "generated": [[ids], ...], "logits": [[[vocab floats] per position], ...]?,
//                     "bos": id|null, "eos": id|null}, ...]}
// tokens = llama.cpp's tokenization of each text (special tokens parsed, nothing added); generated = N greedy
// (temperature 0) tokens after each prompt, stopping at nothing; logits (when asked) = llama.cpp's raw next-token
// logits after every position of each prompt, in a fresh context. One process handles every model.
import { readFileSync, writeFileSync } from 'node:fs';
import { getLlama } from 'node-llama-cpp';

const [inPath, outPath] = process.argv.slice(2);
const job = JSON.parse(readFileSync(inPath, 'utf8'));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const out = { models: [] };
for (const m of job.models) {
  const model = await llama.loadModel({ modelPath: m.path, gpuLayers: 0 });
  const result = { tokens: [], generated: [], bos: model.tokens.bos ?? null, eos: model.tokens.eos ?? null };
  if (m.logits) result.logits = [];
  for (const text of m.tokenize ?? []) result.tokens.push(Array.from(model.tokenize(text, true)));
  for (const prompt of m.prompts ?? []) {
    const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 2, ...(m.lora ? { lora: m.lora } : {}) });
    const sequence = context.getSequence();
    const generated = [];
    if (m.generate > 0) {
      for await (const token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
        generated.push(token);
        if (generated.length >= m.generate) break;
      }
    }
    result.generated.push(generated);
    await context.dispose();
    if (m.logits) {
      const scoring = await model.createContext({ contextSize: 256, sequences: 1, threads: 2, ...(m.lora ? { lora: m.lora } : {}) });
      const outputs = await scoring.getSequence().controlledEvaluate(prompt.map(t => [t, { generateNext: { logits: true } }]));
      result.logits.push(outputs.map(o => {
        const row = new Array(m.vocab).fill(null);
        for (const [token, logit] of o.next.logits) row[token] = logit;
        return row;
      }));
      await scoring.dispose();
    }
  }
  out.models.push(result);
  await model.dispose();
}
writeFileSync(outPath, JSON.stringify(out));
process.exit(0);
