// @huggingface/gguf's parser as an independent reader of Scalpel's GGUF files.
// usage: node gguf_parse.mjs OUT.json FILE.gguf...
//   OUT: {"files": [{"version": n, "metadata": {key: scalar | {"length": n, "first": value}}, "tensors": [{"name", "shape": [ne0, ne1, ...], "dtype": n}]}]}
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gguf } from '@huggingface/gguf';

const [outPath, ...files] = process.argv.slice(2);
const plain = v => (typeof v === 'bigint' ? Number(v) : v);
const out = { files: [] };
for (const file of files) {
  const { metadata, tensorInfos } = await gguf(resolve(file), { allowLocalFile: true });
  const meta = {};
  for (const [key, value] of Object.entries(metadata)) {
    meta[key] = Array.isArray(value) ? { length: value.length, first: plain(value[0]) } : plain(value);
  }
  out.files.push({
    version: plain(metadata.version),
    metadata: meta,
    tensors: tensorInfos.map(t => ({ name: t.name, shape: t.shape.map(Number), dtype: t.dtype })),
  });
}
writeFileSync(outPath, JSON.stringify(out));
