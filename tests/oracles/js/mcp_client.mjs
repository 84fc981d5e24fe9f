// Drives `scalpel mcp` with the official MCP TypeScript SDK over stdio, the way an agent's host would.
// usage: node mcp_client.mjs COMMAND ARGS_JSON WORK_DIR OUTSIDE_FILE
// WORK_DIR holds model/, train.jsonl, val.jsonl and config.yaml (the keyword task); prints one JSON object of what happened.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [command, argsJson, work, outside] = process.argv.slice(2);
const transport = new StdioClientTransport({ command, args: JSON.parse(argsJson), stderr: "inherit" });
const client = new Client({ name: "scalpel-test", version: "1.0.0" });
await client.connect(transport);

const out = {};
const call = (name, args, options) => client.callTool({ name, arguments: args }, undefined, options);
const brief = r => ({ isError: r.isError ?? false, text: r.content?.map(c => c.text).join("\n"), structured: r.structuredContent ?? null });

out.tools = (await client.listTools()).tools.map(t => ({ name: t.name, description: t.description, input: t.inputSchema }));
out.inspect = brief(await call("inspect_model", { model_dir: `${work}/model` }));
out.check = brief(await call("check_dataset", { file: `${work}/train.jsonl`, validation_file: `${work}/val.jsonl` }));
out.stats = brief(await call("dataset_stats", { file: `${work}/train.jsonl` }));
out.outside = brief(await call("check_dataset", { file: outside }));
out.dotdot = brief(await call("inspect_model", { model_dir: `${work}/../../../../../../etc` }));
out.missing = brief(await call("check_dataset", { file: `${work}/no-such.jsonl` }));

out.estimate = brief(await call("estimate_training", { config_path: `${work}/config.yaml`, overrides: ["training.max_steps=60"] }));
out.estimateTight = brief(await call("estimate_training", { config_path: `${work}/config.yaml`, memory_limit: "1M" }));
out.estimateBadLimit = brief(await call("estimate_training", { config_path: `${work}/config.yaml`, memory_limit: "lots" }));
let started = Date.now();
out.start = brief(await call("start_training", { config_path: `${work}/config.yaml`, overrides: ["training.max_steps=60", "validation.interval=20"] }));
out.startMs = Date.now() - started;
const runId = out.start.structured?.run_id;
out.firstStatus = brief(await call("run_status", { run_id: runId }));
out.progress = [];
const deadline = Date.now() + 120000;
let status = out.firstStatus.structured;
while (status?.state === "running" && Date.now() < deadline) {
  const r = await call("wait_for_run", { run_id: runId, timeout_seconds: 20 },
    { onprogress: p => out.progress.push(p), timeout: 60000 });
  status = brief(r).structured;
}
out.final = brief(await call("run_status", { run_id: runId }));
out.list = brief(await call("list_runs", {}));
out.resourceTemplates = (await client.listResourceTemplates()).resourceTemplates.map(t => t.uriTemplate);
out.metrics = (await client.readResource({ uri: `scalpel://runs/${runId}/metrics` })).contents.map(c => c.text).join("");
out.resources = (await client.listResources()).resources.map(r => ({ uri: r.uri, name: r.name, mime: r.mimeType }));
out.checkReport = (await client.readResource({ uri: out.check.structured?.resource_uri })).contents.map(c => ({ mime: c.mimeType, text: c.text }));
try { await client.readResource({ uri: "scalpel://data-checks/nosuchcheck" }); out.checkMissing = "read"; }
catch (e) { out.checkMissing = String(e.message); }
out.report = (await client.readResource({ uri: `scalpel://runs/${runId}/report` })).contents.map(c => ({ mime: c.mimeType, length: c.text?.length }));

// The other tools once each, on the run's adapter.
const adapter = out.final.structured?.output_path;
out.split = brief(await call("split_dataset", { file: `${work}/train.jsonl`, out_dir: `${work}/splits`, ratios: [0.9, 0.1], seed: 7 }));
out.convert = brief(await call("convert_dataset", { file: `${work}/val.jsonl`, output: `${work}/converted.jsonl` }));
out.init = brief(await call("create_config", { model_dir: `${work}/model`, train_file: `${work}/train.jsonl`,
  validation_file: `${work}/val.jsonl`, output: `${work}/init.yaml` }));
out.initAgain = brief(await call("create_config", { model_dir: `${work}/model`, train_file: `${work}/train.jsonl`, output: `${work}/init.yaml` }));
// Evaluate, compare and export are jobs: the tool answers with a job id at once; wait_for_job follows it.
const followJob = async (started, progressLog) => {
  const id = started.structured?.job_id;
  let st = started.structured ? { state: "running" } : null;
  for (let i = 0; i < 20 && st?.state === "running"; i++)
    st = brief(await call("wait_for_job", { job_id: id, timeout_seconds: 30 },
      { timeout: 60000, resetTimeoutOnProgress: true, onprogress: p => progressLog?.push(p) })).structured;
  return st;
};
out.compareProgress = [];
started = Date.now();
out.compareStart = brief(await call("compare", { suite: `${work}/suite.yaml`, model_dir: `${work}/model`, out_dir: `${work}/compare`,
  adapters: [adapter], limit: 16 }));
out.compareStartMs = Date.now() - started;
out.compare = await followJob(out.compareStart, out.compareProgress);
out.evaluateStart = brief(await call("evaluate", { suite: `${work}/suite.yaml`, model_dir: `${work}/model`, adapter_dir: adapter,
  out_dir: `${work}/eval`, limit: 16 }));
out.evaluate = await followJob(out.evaluateStart);
out.exportStart = brief(await call("export", { kind: "merged", model_dir: `${work}/model`, adapter_dir: adapter, output: `${work}/merged`, type: "f32" }));
out.export = await followJob(out.exportStart);
out.ggufStart = brief(await call("export", { kind: "gguf", model_dir: `${work}/model`, adapter_dir: adapter, output: `${work}/model.gguf`, type: "f32" }));
out.gguf = await followJob(out.ggufStart);
// @huggingface/gguf reads the exported file independently of Scalpel's own reader.
try {
  const { gguf } = await import("@huggingface/gguf");
  const { resolve } = await import("node:path");
  const { metadata, tensorInfos } = await gguf(resolve(`${work}/model.gguf`), { allowLocalFile: true });
  out.ggufParsed = { architecture: metadata["general.architecture"], blockCount: Number(metadata["llama.block_count"]),
    tensors: tensorInfos.map(t => ({ name: t.name, shape: t.shape.map(Number), dtype: t.dtype })) };
} catch (e) { out.ggufParsed = { error: String(e) }; }
// The adapter alone as a GGUF LoRA with an Ollama Modelfile whose FROM is the base GGUF (written by a plain gguf export).
out.baseGguf = await followJob(brief(await call("export", { kind: "gguf", model_dir: `${work}/model`, output: `${work}/base.gguf`, type: "f32" })));
out.ggufAdapter = await followJob(brief(await call("export", { kind: "gguf-adapter", model_dir: `${work}/model`, adapter_dir: adapter,
  output: `${work}/adapter.gguf`, modelfile: true, base_gguf: `${work}/base.gguf` })));
try {
  const { gguf } = await import("@huggingface/gguf");
  const { resolve } = await import("node:path");
  const { metadata, tensorInfos } = await gguf(resolve(`${work}/adapter.gguf`), { allowLocalFile: true });
  out.ggufAdapterParsed = { type: metadata["general.type"], adapterType: metadata["adapter.type"], tensors: tensorInfos.map(t => t.name) };
} catch (e) { out.ggufAdapterParsed = { error: String(e) }; }
// Refused before any job starts: the CLI's messages.
out.exportBadType = brief(await call("export", { kind: "gguf", model_dir: `${work}/model`, output: `${work}/bad.gguf`, type: "q2_k" }));
out.exportBadKind = brief(await call("export", { kind: "onnx", model_dir: `${work}/model`, output: `${work}/bad.onnx` }));
// escape/ is a link inside the root to the folder above it: a file not yet written through it is still outside.
out.exportOutside = brief(await call("export", { kind: "merged", model_dir: `${work}/model`, output: `${work}/escape/merged` }));
out.compareMissingAdapter = brief(await call("compare", { suite: `${work}/suite.yaml`, model_dir: `${work}/model`, out_dir: `${work}/compare2`,
  adapters: [`${work}/no-such-adapter`] }));
// A long evaluation (the whole training file, several times over), cancelled.
out.longEvalStart = brief(await call("evaluate", { suite: `${work}/long-suite.yaml`, model_dir: `${work}/model`, out_dir: `${work}/eval-long` }));
out.longEvalStatus = brief(await call("job_status", { job_id: out.longEvalStart.structured?.job_id })).structured;
out.cancelJob = brief(await call("cancel_job", { job_id: out.longEvalStart.structured?.job_id })).structured;
out.cancelledJob = await followJob(out.longEvalStart);
out.jobStatusUnknown = brief(await call("job_status", { job_id: "nosuchjob" }));
out.listAfterJobs = brief(await call("list_runs", {}));

// A long run, cancelled: it ends interrupted.
out.longStart = brief(await call("start_training", { config_path: `${work}/config.yaml`,
  overrides: ["training.max_steps=100000", "validation.interval=100000", `output.dir=${work}/runs/long`] }));
const long = out.longStart.structured;
// While one call waits on the run, another is answered at once.
const waiting = call("wait_for_run", { run_id: long?.run_id, timeout_seconds: 4 });
started = Date.now();
out.duringWait = brief(await call("run_status", { run_id: long?.run_id }));
out.duringWaitMs = Date.now() - started;
out.waited = brief(await waiting).structured;
out.cancel = brief(await call("cancel_run", { run_id: long?.run_id }));
let cancelled = out.cancel.structured;
for (let i = 0; i < 10 && cancelled?.state === "running"; i++)
  cancelled = brief(await call("wait_for_run", { run_id: long.run_id, timeout_seconds: 10 })).structured;
out.cancelled = cancelled;
// A run still training when the client leaves: the server stops it with a checkpoint before exiting.
out.orphan = brief(await call("start_training", { config_path: `${work}/config.yaml`,
  overrides: ["training.max_steps=100000", "validation.interval=100000", "checkpoints.interval=100000", `output.dir=${work}/runs/orphan`] })).structured;
await call("wait_for_run", { run_id: out.orphan?.run_id, timeout_seconds: 1 });
await client.close();
console.log(JSON.stringify(out));
