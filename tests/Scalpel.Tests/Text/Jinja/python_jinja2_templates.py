#!/usr/bin/env python3
"""Regenerates python-jinja2-templates.json: every chat template in ../shared/fixtures/chat-templates rendered by
Python Jinja2 with transformers' chat-template environment (see python_jinja2_cases.py) for a set of standard
conversations, with and without add_generation_prompt, plus the {% generation %} indices transformers' AssistantTracker
records. Development tool only; the test suite reads the JSON.

    python3 python_jinja2_templates.py
"""
import glob, json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jinja2
from python_jinja2_cases import env, FIXED_NOW  # noqa: E402  (same environment)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
FIXTURES = os.path.abspath(os.path.join(ROOT, "..", "shared", "fixtures", "chat-templates"))

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city.",
     "parameters": {"type": "object", "properties": {
         "city": {"type": "string", "description": "City name"},
         "unit": {"type": "string", "enum": ["c", "f"], "description": "Unit"},
         "days": {"type": "integer", "description": "How many days"}},
         "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "description": "Search the web.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "What to look for"}}, "required": ["query"]}}},
]
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
CONVERSATIONS = {
    "basic": [SYSTEM, {"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there, how can I help?"},
              {"role": "user", "content": "What is 2+2?"}],
    "no_system": [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there."}, {"role": "user", "content": "Bye."}],
    "ends_with_assistant": [SYSTEM, {"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there."},
                            {"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "It is 4."}],
    "unicode": [{"role": "user", "content": "Ünïcödé 日本語 😀👍🏽 عربى \t tabs\n\nand  spaces \"quotes\" 'single' \\back\\ {{braces}} {% x %}"},
                {"role": "assistant", "content": "\n  Réponse: ✓ — done 🎉  \n"},
                {"role": "user", "content": ""}],
    "tools": [SYSTEM, {"role": "user", "content": "Weather in Paris?"},
              {"role": "assistant", "content": "", "tool_calls": [{"id": "call12345", "type": "function",
               "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
              {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temp\": 21.5, \"sky\": \"clear\"}"},
              {"role": "assistant", "content": "It is 21.5 °C and clear."},
              {"role": "user", "content": "Thanks"}],
    "tools_string_arguments": [{"role": "user", "content": "Search for cats."},
              {"role": "assistant", "content": "Searching.", "tool_calls": [{"id": "call67890", "type": "function",
               "function": {"name": "search", "arguments": "{\"query\": \"cats\"}"}}]},
              {"role": "tool", "tool_call_id": "call67890", "name": "search", "content": "Cats are mammals."},
              {"role": "assistant", "content": "Cats are mammals."}],
    "tools_flat_calls": [{"role": "user", "content": "Weather in Oslo?"},
              {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
              {"role": "tool", "name": "get_weather", "content": "-3"},
              {"role": "assistant", "content": "Cold: -3."}],
    "reasoning": [{"role": "user", "content": "Think first."},
                  {"role": "assistant", "content": "<think>\nI should answer.\n</think>\n\nAnswer one."},
                  {"role": "user", "content": "Again."},
                  {"role": "assistant", "content": "<think>\nStill thinking.\n</think>\n\nAnswer two."}],
}
EXTRA = {"date_string": "26 Jul 2024"}

out = {"generator": "python_jinja2_templates.py", "jinja2_version": jinja2.__version__, "fixed_now": FIXED_NOW.isoformat(),
       "tools": TOOLS, "conversations": CONVERSATIONS, "extra_variables": EXTRA, "renders": []}
files = sorted(glob.glob(os.path.join(FIXTURES, "*", "*.jinja")))
for path in files:
    rel = os.path.relpath(path, FIXTURES)
    with open(path, encoding="utf-8") as f:
        source = f.read()
    template = env.from_string(source)
    tracker = env.extensions["python_jinja2_cases.AssistantTracker"] if "python_jinja2_cases.AssistantTracker" in env.extensions else None
    for conv_name, messages in CONVERSATIONS.items():
        for agp in (False, True):
            ctx = {"messages": messages, "tools": TOOLS if conv_name.startswith("tools") else None, "documents": None,
                   "add_generation_prompt": agp, "bos_token": "<BOS>", "eos_token": "<EOS>", **EXTRA}
            entry = {"template": rel, "conversation": conv_name, "add_generation_prompt": agp}
            try:
                # Reproduce transformers' _render_with_assistant_indices: collect generated blocks and indices.
                blocks, indices = [], []
                ext = next(iter(e for e in env.extensions.values() if type(e).__name__ == "AssistantTracker"))
                original = ext._generation_support
                def support(context, caller, _blocks=blocks, _indices=indices):
                    rv = caller()
                    start = len("".join(_blocks))
                    _indices.append([start, start + len(rv)])
                    return rv
                ext._generation_support = jinja2.pass_eval_context(support)
                try:
                    for block in template.generate(**ctx):
                        blocks.append(block)
                finally:
                    ext._generation_support = original
                entry["expected"] = "".join(blocks)
                if "{% generation %}" in source or "{%- generation" in source:
                    entry["generation_indices"] = indices
            except Exception as e:
                entry["error"] = f"{type(e).__name__}: {e}"
            out["renders"].append(entry)

path = os.path.join(HERE, "python-jinja2-templates.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
errors = [r for r in out["renders"] if "error" in r]
print(f"wrote {len(out['renders'])} renders of {len(files)} templates ({len(errors)} errors) to {path}")
for r in errors:
    print("  ", r["template"], r["conversation"], r["add_generation_prompt"], r["error"][:120])
