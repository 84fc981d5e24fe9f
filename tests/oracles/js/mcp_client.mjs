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
await client.close();
console.log(JSON.stringify(out));
