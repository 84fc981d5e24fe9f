// Reference tokenization by @huggingface/transformers (transformers.js), for Scalpel's differential tests.
// usage: node tokenize_oracle.mjs IN.json OUT.json
//   IN:  {"fixtures": "<dir holding tokenizer folders>", "tokenizer": "<folder name>",
//         "inputs": ["text", ...], "normalize": ["text", ...]}
//   OUT: {"results": [{"ids": [...], "ids_plain": [...], "decoded": "...", "decoded_skip": "...", "tokens": [...]}, ...],
//         "normalized": [{"NFC": "...", "NFD": "...", "NFKC": "...", "NFKD": "..."}, ...]}
// ids = encode(text) (special tokens as the tokenizer adds them), ids_plain = encode(text, add_special_tokens=false),
// decoded / decoded_skip = decode(ids, skip_special_tokens=false/true). One process handles a whole batch.
import { readFileSync, writeFileSync } from 'node:fs';
import { AutoTokenizer, env } from '@huggingface/transformers';

const [inPath, outPath] = process.argv.slice(2);
const job = JSON.parse(readFileSync(inPath, 'utf8'));
env.allowRemoteModels = false;
env.localModelPath = job.fixtures.endsWith('/') ? job.fixtures : job.fixtures + '/';

const out = { results: [], normalized: [] };
if (job.tokenizer) {
  const tok = await AutoTokenizer.from_pretrained(job.tokenizer);
  const decode = (ids, skip) => (ids.length === 0 ? '' : tok.decode(ids, { skip_special_tokens: skip }));
  for (const text of job.inputs ?? []) {
    const ids = tok.encode(text);
    const idsPlain = tok.encode(text, { add_special_tokens: false });
    out.results.push({
      ids,
      ids_plain: idsPlain,
      decoded: decode(ids, false),
      decoded_skip: decode(ids, true),
      tokens: ids.map((i) => tok._tokenizer.id_to_token(i) ?? null),
    });
  }
}
for (const text of job.normalize ?? []) {
  out.normalized.push({ NFC: text.normalize('NFC'), NFD: text.normalize('NFD'), NFKC: text.normalize('NFKC'), NFKD: text.normalize('NFKD') });
}
writeFileSync(outPath, JSON.stringify(out));
