// Drives a running `scalpel serve` with the official `openai` npm package, unchanged: chat, streaming, json_schema,
// a forced tool call and a legacy completion.
//   node openai_client.mjs BASE_URL API_KEY MODEL
// Prints one JSON object: {"chat": {...}, "stream": {...}, "schema": [...], "tool": {...}, "completion": {...}}.
// Failures of the client (HTTP errors, malformed streams) exit non-zero with the message on stderr.
import OpenAI from "openai";

const [baseURL, apiKey, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120_000 });
const messages = [{ role: "user", content: "talk" }];

const chat = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 24 });

let streamed = "", finish = null, usage = null, chunks = 0;
const stream = await client.chat.completions.create({
  model, messages, temperature: 0, max_tokens: 24, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const choice of chunk.choices) {
    streamed += choice.delta.content ?? "";
    finish = choice.finish_reason ?? finish;
  }
}

const schema = {
  type: "object",
  properties: { city: { enum: ["Paris", "Oslo", "Lima"] }, days: { type: "integer" }, sunny: { type: "boolean" } },
  required: ["city", "days", "sunny"],
};
const schemaAnswers = [];
for (let seed = 0; seed < 3; seed++) {
  const r = await client.chat.completions.create({
    model, messages: [{ role: "user", content: "weather as JSON" }], temperature: 1, seed, max_tokens: 200,
    response_format: { type: "json_schema", json_schema: { name: "weather", schema, strict: true } },
  });
  schemaAnswers.push(r.choices[0].message.content);
}

const tool = await client.chat.completions.create({
  model, messages: [{ role: "user", content: "weather?" }], temperature: 1, seed: 3, max_tokens: 120,
  tools: [{ type: "function", function: { name: "get_weather", description: "Weather", parameters: schema } }],
  tool_choice: { type: "function", function: { name: "get_weather" } },
});

const completion = await client.completions.create({ model, prompt: "the quick brown fox", temperature: 0, max_tokens: 12 });

console.log(JSON.stringify({
  chat: { text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason, usage: chat.usage },
  stream: { text: streamed, finish, usage, chunks },
  schema: schemaAnswers,
  tool: { finish: tool.choices[0].finish_reason, calls: tool.choices[0].message.tool_calls },
  completion: { text: completion.choices[0].text, finish: completion.choices[0].finish_reason },
}));
