// Drives the MCP endpoint of `scalpel serve` (/mcp, Streamable HTTP) with the official MCP TypeScript SDK.
// usage: node mcp_http_client.mjs MCP_URL API_KEY WORK_DIR OUTSIDE_FILE
// WORK_DIR holds model/, train.jsonl, val.jsonl, config.yaml and suite.yaml (the keyword task); prints one JSON object.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, key, work, outside] = process.argv.slice(2);
const out = {};

// Without the key, or with a wrong one: the SDK's connect fails on HTTP 401 before any tool is reached.
for (const [name, headers] of [["noKey", {}], ["wrongKey", { Authorization: "Bearer not-the-key-at-all" }]]) {
  const c = new Client({ name: "scalpel-test", version: "1.0.0" });
  try {
    await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
    out[name] = { connected: true };
  } catch (e) {
    out[name] = { connected: false, code: e.code ?? null, message: String(e.message) };
  }
}
const raw = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
  body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } }) });
out.rawNoKey = { status: raw.status, challenge: raw.headers.get("www-authenticate") };

const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
const client = new Client({ name: "scalpel-test", version: "1.0.0" });
await client.connect(transport);
out.sessionId = transport.sessionId ?? null;

const call = (name, args, options) => client.callTool({ name, arguments: args }, undefined, options);
const brief = r => ({ isError: r.isError ?? false, text: r.content?.map(c => c.text).join("\n"), structured: r.structuredContent ?? null });

out.tools = (await client.listTools()).tools.map(t => t.name);
out.inspect = brief(await call("inspect_model", { model_dir: `${work}/model` }));
out.check = brief(await call("check_dataset", { file: `${work}/train.jsonl` }));
out.checkReport = (await client.readResource({ uri: out.check.structured?.resource_uri })).contents.map(c => c.text).join("");
out.outside = brief(await call("check_dataset", { file: outside }));
out.missing = brief(await call("check_dataset", { file: `${work}/no-such.jsonl` }));

// A short run, followed with progress notifications carried on the POST's event stream.
out.start = brief(await call("start_training", { config_path: `${work}/config.yaml`, overrides: ["training.max_steps=20", "validation.interval=10"] }));
const runId = out.start.structured?.run_id;
out.progress = [];
let status = { state: "running" };
for (let i = 0; i < 10 && status?.state === "running"; i++)
  status = brief(await call("wait_for_run", { run_id: runId, timeout_seconds: 20 }, { onprogress: p => out.progress.push(p), timeout: 60000 })).structured;
out.final = status;

// A compare job, followed the same way.
out.compareStart = brief(await call("compare", { suite: `${work}/suite.yaml`, model_dir: `${work}/model`, out_dir: `${work}/compare-http`,
  adapters: status?.output_path ? [status.output_path] : [], limit: 8 }));
out.compareProgress = [];
let job = { state: "running" };
for (let i = 0; i < 10 && job?.state === "running"; i++)
  job = brief(await call("wait_for_job", { job_id: out.compareStart.structured?.job_id, timeout_seconds: 30 },
    { onprogress: p => out.compareProgress.push(p), timeout: 60000, resetTimeoutOnProgress: true })).structured;
out.compare = job;

// Ending the session: the next request on it is refused, and a new session sees the server's runs.
await transport.terminateSession();
const stale = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream",
  Authorization: `Bearer ${key}`, "Mcp-Session-Id": out.sessionId, "MCP-Protocol-Version": "2025-06-18" },
  body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }) });
out.staleStatus = stale.status;
await client.close();

const again = new Client({ name: "scalpel-test", version: "1.0.0" });
const t2 = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
await again.connect(t2);
out.secondSessionId = t2.sessionId ?? null;
out.statusFromSecondSession = brief(await again.callTool({ name: "run_status", arguments: { run_id: runId } })).structured;
await again.close();
console.log(JSON.stringify(out));
