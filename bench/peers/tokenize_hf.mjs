// transformers.js peer for `bench/run tokenize-cpu`: encodes the same documents as Scalpel's TokenizerBench.
// usage: node tokenize_hf.mjs TRANSFORMERS_PACKAGE_DIR TOKENIZERS_DIR CORPUS_FILE NAME...
// The corpus is UTF-8 documents separated by U+001E. Each document is encoded with tokenizer.encode(doc) (special
// tokens added). One warm-up pass over the first ~2 MB, then one timed pass over everything. Prints one JSON line per
// tokenizer: {"tokenizer", "load_s", "seconds", "mb_per_s", "tokens"}.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [pkg, tokenizersDir, corpusFile, ...names] = process.argv.slice(2);
const { AutoTokenizer, env } = await import(pathToFileURL(join(pkg, 'dist', 'transformers.node.mjs')).href);
env.allowRemoteModels = false;
env.localModelPath = tokenizersDir.endsWith('/') ? tokenizersDir : tokenizersDir + '/';

const text = readFileSync(corpusFile, 'utf8');
const docs = text.split('\u001e');
const bytes = Buffer.byteLength(text, 'utf8') - (docs.length - 1);

for (const name of names) {
  let t0 = performance.now();
  const tok = await AutoTokenizer.from_pretrained(name);
  const loadS = (performance.now() - t0) / 1000;
  let warm = 0;
  for (const d of docs) {
    tok.encode(d);
    warm += d.length;
    if (warm > 2_000_000) break;
  }
  t0 = performance.now();
  let tokens = 0;
  for (const d of docs) tokens += tok.encode(d).length;
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ tokenizer: name, load_s: loadS, seconds, mb_per_s: bytes / 1e6 / seconds, tokens }));
}
