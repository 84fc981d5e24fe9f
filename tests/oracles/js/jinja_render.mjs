// Renders chat templates with @huggingface/jinja: the reference for Scalpel's differential template tests.
//   node jinja_render.mjs IN.json OUT.json
// IN:  {"templates": {"id": "source", ...}, "now": "2024-07-26T09:05:03", "cases": [{"template": "id", "context": {...}}, ...]}
// OUT: {"results": [{"text": "..."} | {"error": "..."}, ...]} in case order.
// strftime_now uses the fixed "now" (the library's own uses the clock and the locale).
import { readFileSync, writeFileSync } from "node:fs";
import { Environment, Template } from "@huggingface/jinja";

// The library declares its own strftime_now (clock + locale) and raise_exception; let the context replace them.
const declare = Environment.prototype.set;
Environment.prototype.set = function (name, value) {
  if ((name === "strftime_now" || name === "raise_exception") && this.variables.has(name)) this.variables.delete(name);
  return declare.call(this, name, value);
};

const [input, output] = process.argv.slice(2);
const data = JSON.parse(readFileSync(input, "utf8"));
const now = new Date(data.now ?? "2024-07-26T09:05:03");
const months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const pad = (n, w = 2) => String(n).padStart(w, "0");
function strftime_now(format) {
  return format.replace(/%[a-zA-Z%]/g, (t) => ({
    "%Y": String(now.getFullYear()), "%y": pad(now.getFullYear() % 100), "%m": pad(now.getMonth() + 1), "%d": pad(now.getDate()),
    "%b": months[now.getMonth()].slice(0, 3), "%B": months[now.getMonth()], "%a": days[now.getDay()].slice(0, 3), "%A": days[now.getDay()],
    "%H": pad(now.getHours()), "%M": pad(now.getMinutes()), "%S": pad(now.getSeconds()), "%%": "%",
  })[t] ?? t);
}
function raise_exception(message) {
  throw new Error(String(message));
}

const compiled = new Map();
const results = [];
for (const c of data.cases) {
  try {
    let t = compiled.get(c.template);
    if (t === undefined) {
      try {
        t = new Template(data.templates[c.template]);
      } catch (e) {
        t = e instanceof Error ? e : new Error(String(e));
      }
      compiled.set(c.template, t);
    }
    if (t instanceof Error) throw t;
    results.push({ text: t.render({ ...c.context, strftime_now, raise_exception }) });
  } catch (e) {
    results.push({ error: String(e?.message ?? e) });
  }
}
writeFileSync(output, JSON.stringify({ results }));
