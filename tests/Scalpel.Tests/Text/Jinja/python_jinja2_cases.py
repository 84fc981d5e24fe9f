#!/usr/bin/env python3
"""Regenerates python-jinja2-cases.json: expected renderings of small templates by Python Jinja2 configured exactly
as transformers configures it for chat templates (transformers/utils/chat_template_utils.py: ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, the generation tag, tojson = json.dumps(ensure_ascii=False), raise_exception,
strftime_now). Development tool only: the test suite reads the JSON file and needs no Python.

    python3 python_jinja2_cases.py   (needs jinja2 >= 3.1)
"""
import json, os, sys
from datetime import datetime
import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


FIXED_NOW = datetime(2024, 7, 26, 9, 5, 3)


def strftime_now(format):
    return FIXED_NOW.strftime(format)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

def main():
    MSGS = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi 😀 <b>&</b> 'q' \"dq\" \\ {{x}}"},
        {"role": "assistant", "content": "  Hello!\n  ", "tool_calls": [
            {"type": "function", "function": {"name": "get", "arguments": {"city": "Paris", "n": 3, "f": 1.5, "ok": True, "none": None}}}]},
        {"role": "tool", "content": "{\"t\": 20}"},
    ]
    CTX = {"messages": MSGS, "bos_token": "<s>", "eos_token": "</s>", "n": 7, "f": 2.5, "s": "Hello World", "e": "",
           "l": [3, 1, 2], "d": {"b": 2, "a": 1, "C": 3}, "nested": {"x": {"y": [1, {"z": "deep"}]}},
           "u": "naïve café 😀 日本語", "none": None, "t": True, "items": [{"name": "b", "v": 2}, {"name": "A", "v": 1}, {"name": "c", "v": 3}]}

    T = []  # (name, template, context or None for CTX)
    def case(name, template, ctx=None):
        T.append((name, template, ctx))

    # --- whitespace control, trim_blocks, lstrip_blocks, comments, raw
    case("trim_blocks", "{% if true %}\nA\n{% endif %}\nB")
    case("lstrip_blocks", "  {% if true %}\n  A\n  {% endif %}\nB")
    case("lstrip_not_variables", "  {{ 'x' }}\n")
    case("lstrip_mid_line", "a  {% if true %}b{% endif %}")
    case("plus_disables_lstrip", "  {%+ if true %}x{% endif %}")
    case("plus_disables_trim", "{% if true +%}\nx{% endif %}")
    case("minus_both", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c")
    case("variable_minus", "a \n {{- 'x' -}} \n b")
    case("comments", "a {# c #}\nb\n  {# c2 #}\nc {#- c3 -#}   d")
    case("comment_trim", "{# x #}\n{# y -#}\n\n  z")
    case("raw", "{% raw %}{{ x }}{% if %}{% endraw %}!")
    case("raw_ws", "  {%- raw -%}  {{ a }}  {%- endraw -%}  .")
    case("trailing_newline", "abc\n")
    case("trailing_newlines", "abc\n\n")
    case("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc")
    case("line_starting_after_var", "{{ 'x' }}\n  {% if true %}y{% endif %}")
    case("start_of_template_lstrip", "   {% if true %}y{% endif %}")
    case("tab_lstrip", "\t{% if true %}y{% endif %}")
    case("data_only", "just text")
    case("empty", "")
    # --- literals and printing
    case("print_values", "{{ none }}|{{ true }}|{{ false }}|{{ 1 }}|{{ 1.0 }}|{{ 1.5e3 }}|{{ 1e16 }}|{{ 1e-5 }}|{{ 0.1 + 0.2 }}|{{ -0.0 }}")
    case("print_containers", "{{ [1, 'a', none, true, 2.0] }}|{{ {'a': 1, 'b': [none]} }}|{{ (1,) }}|{{ () }}|{{ (1, 'x') }}")
    case("print_string_repr", "{{ ['it\\'s', 'say \"hi\"', 'both \\' \"', 'nl\\n', 'tab\\t', 'bs\\\\', '\\x01', 'é😀\\u200b\\xa0'] }}")
    case("print_messages", "{{ messages[2] }}")
    case("print_dict_of_json", "{{ nested }}")
    case("print_undefined", "[{{ nothing }}][{{ d.zzz }}]")
    case("string_escapes", "{{ 'a\\nb\\tc\\\\d\\'e\\\"f\\x41\\u00e9\\U0001F600\\101\\d' }}")
    case("adjacent_strings", "{{ 'a' \"b\" 'c' }}")
    case("integers", "{{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }}")
    case("floats", "{{ 1.5 }} {{ 1_0.2_5 }} {{ 2e3 }} {{ 2.5E-3 }} {{ 123456789012345678.0 }}")
    # --- arithmetic and operators
    case("arith", "{{ 7 + 2 }} {{ 7 - 2 }} {{ 7 * 2 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7.5 // 2 }} {{ 4 / 2 }}")
    case("pow_left_assoc", "{{ 2 ** 3 ** 2 }} {{ -2 ** 2 }}")
    case("string_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ 'a' ~ 1 ~ none ~ true ~ 1.0 }} {{ [1] + [2] }} {{ [0] * 3 }}")
    case("concat_undefined", "{{ 'a' ~ nothing ~ 'b' }}")
    case("comparisons", "{{ 1 < 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }} {{ none == none }} {{ 'a' != 'a' }} {{ 2 >= 2.0 }}")
    case("in_ops", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'a' in {'a': 1} }} {{ 'z' not in 'cat' }} {{ 'x' in nothing }} {{ 1 in (1, 2) }}")
    case("logic", "{{ true and 'x' }}|{{ 0 or 'y' }}|{{ '' or [] }}|{{ not 0 }}|{{ not 'a' }}|{{ none or none }}|{{ [] and 1 }}")
    case("ternary", "{{ 'y' if 1 else 'n' }}|{{ 'y' if 0 }}|{{ 'a' if false else 'b' if true else 'c' }}")
    case("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 * 3 ~ 4 }} {{ not 1 == 2 }} {{ -3|abs }} {{ 10 - 2 - 3 }}")
    case("unary", "{{ -n }} {{ +n }} {{ - -n }} {{ -f }}")
    case("truthiness", "{% for v in [0, 1, '', 'a', [], [0], {}, {'a': 1}, none, 0.0, nothing] %}{{ 'T' if v else 'F' }}{% endfor %}")
    # --- subscripts and slicing
    case("subscripts", "{{ l[0] }} {{ l[-1] }} {{ l[5] }}|{{ d['a'] }} {{ d.a }} {{ d['zz'] }}|{{ s[0] }} {{ s[-1] }} {{ nested.x.y[1].z }} {{ nested['x']['y'][0] }} {{ l.0 }}")
    case("slices", "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ s[2:5] }} {{ s[::-1] }} {{ s[-3:] }} {{ s[100:] }} {{ s[-100:2] }} {{ 'abc'[0:65536:2] }} {{ 'abc'[100:0:-1] }} {{ (1, 2, 3)[1:] }}")
    case("unicode_index", "{{ u|length }} {{ u[11] }} {{ u[-3:] }} {{ u[::-1] }} {{ u|list|length }} {{ u.find('日') }}")
    case("dict_attr_vs_item", "{{ d.items is callable }}|{{ d['items'] is callable }}|{{ {'items': 5}.items()|list }}|{{ {'items': 5}['items'] }}|{{ {'get': 1}.get('get') }}")
    case("list_attr_missing", "[{{ l.length }}][{{ 'abc'.foo }}][{{ none.x }}]")
    # --- loops
    case("loop_vars", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}")
    case("loop_prev_next", "{% for x in [1, 2, 3] %}[{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}]{% endfor %}")
    case("loop_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ loop.index }}/{{ loop.length }} {% endfor %}")
    case("loop_else", "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1] if false %}x{% else %}E2{% endfor %}")
    case("loop_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}")
    case("loop_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}")
    case("loop_dict", "{% for k in d %}{{ k }}{% endfor %}")
    case("loop_string", "{% for c in 'héllo😀' %}[{{ c }}]{% endfor %}")
    case("loop_undefined", "{% for x in nothing %}x{% else %}none{% endfor %}")
    case("loop_nested", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }}{% endfor %}{{ loop.index }} {% endfor %}")
    case("loop_cycle_changed", "{% for x in [1, 1, 2] %}{{ loop.cycle('a', 'b') }}{{ loop.changed(x) }}{% endfor %}")
    case("loop_scope", "{% set x = 5 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}[{{ x }}]{% endfor %}{{ x }}")
    case("loop_scope_fresh", "{% for i in [1, 2] %}[{{ y }}]{% set y = i %}{% endfor %}[{{ y }}]")
    case("loop_recursive", "{% for n in [{'v': 1, 'c': [{'v': 2, 'c': []}, {'v': 3, 'c': [{'v': 4, 'c': []}]}]}] recursive %}{{ n.v }}{{ loop.depth }}({{ loop(n.c) }}){% endfor %}")
    case("loop_depth", "{% for a in [1] %}{{ loop.depth }}{{ loop.depth0 }}{% endfor %}")
    case("range", "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }} {{ range(3) }} {{ range(3)|length }}")
    case("for_reversed_messages", "{% for m in messages[::-1] %}{{ m.role }}{% endfor %}")
    # --- set, namespace, with, scoping
    case("set", "{% set a = 1 %}{% set b, c = 2, 3 %}{{ a }}{{ b }}{{ c }}{% set t = 1, 2 %}{{ t }}")
    case("set_block", "{% set x %}  hi {{ n }}\n{% endset %}[{{ x }}]{% set y | upper %}abc{% endset %}{{ y }}")
    case("namespace", "{% set ns = namespace(a=1, b='x') %}{% for i in [1, 2, 3] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}{{ ns.zz }}|{{ ns }}")
    case("namespace_dict", "{% set ns = namespace({'k': 'v'}) %}{{ ns.k }}")
    case("if_no_scope", "{% if true %}{% set z = 1 %}{% endif %}{{ z }}")
    case("with", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]")
    case("elif", "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %}{% endfor %}")
    case("set_before_use", "{{ q }}{% set q = 1 %}{{ q }}")
    # --- macros
    case("macro", "{% macro m(a, b='B', c=none) %}[{{ a }}|{{ b }}|{{ c }}]{% endmacro %}{{ m(1) }}{{ m(1, 2) }}{{ m(1, c=3) }}{{ m() }}")
    case("macro_default_refs_param", "{% macro f(a, b=a ~ '!') %}{{ b }}{% endmacro %}{{ f('x') }}{{ f() }}")
    case("macro_varargs_kwargs", "{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, k=4) }}")
    case("macro_returns_string", "{% macro f() %}x{% endmacro %}{% set r = f() %}{{ r ~ r }}{{ f() is string }}")
    case("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}")
    case("macro_sees_globals", "{% set g = 'G' %}{% macro f() %}{{ g }}{{ n }}{% endmacro %}{% set g = 'H' %}{{ f() }}")
    case("macro_in_loop", "{% macro f(x) %}<{{ x }}>{% endmacro %}{% for i in [1, 2] %}{{ f(i) }}{% endfor %}")
    case("call_block", "{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inner{% endcall %}")
    case("filter_block", "{% filter upper %}abc {{ s }}{% endfilter %}")
    case("generation_block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}<{{ m.content }}>{% endgeneration %}{% else %}({{ m.role }}){% endif %}{% endfor %}")
    # --- filters
    case("f_trim", "[{{ '  a b  '|trim }}][{{ 'xxaxx'|trim('x') }}][{{ nothing|trim }}][{{ '\\u3000a\\n'|trim }}]")
    case("f_join", "{{ l|join }} {{ l|join(', ') }} {{ items|join('-', attribute='name') }} {{ d|join }} {{ [1, none, 'a']|join('/') }}")
    case("f_length", "{{ l|length }} {{ d|length }} {{ s|count }} {{ nothing|length }} {{ ''|length }} {{ u|length }}")
    case("f_map", "{{ items|map(attribute='name')|list }} {{ l|map('string')|list }} {{ ['a', 'B']|map('upper')|join }} {{ items|map(attribute='zz', default='D')|list }} {{ nested.x.y|map(attribute='z')|list }}")
    case("f_select", "{{ range(10)|select('odd')|list }} {{ range(10)|reject('even')|list }} {{ [0, 1, '', 'a']|select|list }} {{ range(5)|select('gt', 2)|list }} {{ range(5)|select('in', [1, 3])|list }}")
    case("f_selectattr", "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='role')|list }} {{ messages|rejectattr('role', 'eq', 'user')|list|length }} {{ items|selectattr('v', 'gt', 1)|map(attribute='name')|join }} {{ messages|selectattr('tool_calls')|list|length }} {{ messages|selectattr('tool_calls', 'defined')|list|length }}")
    case("f_default", "{{ nothing|default('d') }} {{ none|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ 0|d('z', boolean=true) }} {{ nothing|d }}")
    case("f_unique", "{{ ['a', 'A', 'b', 'a']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }} {{ items|unique(attribute='v')|map(attribute='name')|list }} {{ [1, 1.0, true, 2]|unique|list }}")
    case("f_dictsort", "{{ d|dictsort }} {{ d|dictsort(true) }} {{ d|dictsort(by='value') }} {{ d|dictsort(reverse=true) }}")
    case("f_items", "{{ d|items|list }} {% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}{{ nothing|items|list }}")
    case("f_list_first_last", "{{ 'abc'|list }} {{ d|list }} {{ l|first }} {{ l|last }} {{ 'xyz'|first }} {{ []|first }}| {{ d|first }}")
    case("f_case", "{{ 'hello WORLD'|lower }} {{ 'hello'|upper }} {{ 'hello world-foo(bar'|title }} {{ 'hELLO wORLD'|capitalize }} {{ 'straße'|upper }}")
    case("f_replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ 'a1'|replace(1, 2) }}")
    case("f_string", "{{ 1|string }} {{ none|string }} {{ [1, 'a']|string }} {{ d|string }} {{ nothing|string }}|{{ (1.0|string) ~ '!' }}")
    case("f_int_float", "{{ '42'|int }} {{ '42.7'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 3.9|int }} {{ '0x1A'|int(0, 16) }} {{ '3.5'|float }} {{ 'x'|float }} {{ 2|float }} {{ true|int }} {{ none|int }} {{ ' 7 '|int }}")
    case("f_abs_round", "{{ -3|abs }} {{ -2.5|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.567|round(2) }} {{ 2.567|round(1, 'floor') }} {{ 2.561|round(2, 'ceil') }} {{ 3|round }} {{ -2.5|round }}")
    case("f_indent", "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'x\\ny'|indent('> ') }}")
    case("f_tojson", "{{ messages|tojson }}")
    case("f_tojson_indent", "{{ messages[2]|tojson(indent=2) }}|{{ {}|tojson(indent=2) }}|{{ []|tojson(indent=4) }}|{{ [[]]|tojson(indent=1) }}")
    case("f_tojson_options", "{{ d|tojson(sort_keys=true) }} {{ d|tojson(separators=(',', ':')) }} {{ u|tojson }} {{ u|tojson(ensure_ascii=true) }} {{ 'x'|tojson(2) }}")
    case("f_tojson_scalars", "{{ none|tojson }} {{ true|tojson }} {{ 1.0|tojson }} {{ 1e20|tojson }} {{ 'a\\nb\\u0001\\x7f\\u2028</script>'|tojson }} {{ (1, 2)|tojson }} {{ {1: 'a', none: 'b', 2.5: 'c', true: 'd'}|tojson }}")
    case("f_tojson_indent_string", "{{ {'a': [1, {'b': 2}]}|tojson(indent='\\t') }}")
    case("f_escape_safe", "{{ '<a href=\"x\">&\\'</a>'|e }} {{ '<b>'|escape }} {{ '<b>'|safe }} {{ none|e }} {{ none|safe }}")
    case("f_wordcount", "{{ 'hello world, foo-bar_baz 42'|wordcount }} {{ ''|wordcount }} {{ 'naïve café'|wordcount }}")
    case("f_batch_slice", "{{ range(7)|batch(3)|list }} {{ range(7)|batch(3, 'x')|list }} {{ range(7)|slice(3)|list }}")
    case("f_sort", "{{ l|sort }} {{ l|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ items|sort(attribute='name')|map(attribute='name')|join }} {{ items|sort(attribute='v', reverse=true)|map(attribute='v')|list }}")
    case("f_reverse", "{{ 'abc'|reverse }} {{ l|reverse|list }} {{ (1, 2)|reverse|list }}")
    case("f_sum_min_max", "{{ l|sum }} {{ l|sum(start=10) }} {{ items|sum(attribute='v') }} {{ l|min }} {{ l|max }} {{ ['b', 'A']|min }} {{ ['b', 'A']|max(case_sensitive=true) }} {{ items|max(attribute='v') }} {{ []|max }}|")
    case("f_center_truncate", "[{{ 'ab'|center(7) }}][{{ 'abc'|center(6) }}][{{ ('word ' * 60)|truncate(20) }}][{{ ('x' * 300)|truncate(10, true) }}][{{ 'short'|truncate(10) }}]")
    case("f_format", "{{ '%s-%d-%.2f-%5s-%-5s|-%x-%r'|format('a', 3, 1.234, 'r', 'l', 255, 'q') }} {{ '%(a)s'|format(a=1) }}")
    case("f_groupby", "{% for g in items|groupby('v') %}{{ g.grouper }}{{ g.list|length }}{% endfor %}")
    case("f_attr", "{{ ns_missing|default('ok') }} {{ d|attr('a') }} {{ 'x'|attr('upper') is callable }}")
    case("f_pprint_striptags", "{{ [1]|pprint }} {{ '<b>a</b>  <i>b</i> &amp;'|striptags }}")
    # --- tests
    case("t_basic", "{{ nothing is defined }} {{ n is defined }} {{ nothing is undefined }} {{ none is none }} {{ 1 is none }} {{ s is string }} {{ 1 is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }}")
    case("t_types", "{{ 1 is integer }} {{ 1.0 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 1 is boolean }} {{ d is mapping }} {{ l is mapping }} {{ l is sequence }} {{ s is sequence }} {{ d is sequence }} {{ 1 is sequence }} {{ nothing is sequence }}")
    case("t_iterable", "{{ l is iterable }} {{ s is iterable }} {{ d is iterable }} {{ 1 is iterable }} {{ nothing is iterable }} {{ none is iterable }} {{ range(2) is iterable }}")
    case("t_values", "{{ 2 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }}")
    case("t_compare", "{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 3 is gt 2 }} {{ 2 is ge 2 }} {{ 2 is le 1 }} {{ 'a' is in 'abc' }} {{ 4 is in [1, 2] }}")
    case("t_misc", "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aBc' is lower }} {{ raise_exception is callable }} {{ d.get is callable }} {{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ none is sameas none }} {{ true is sameas true }} {{ 'x' is escaped }}")
    case("t_not", "{{ nothing is not defined }} {{ n is not none }} {{ not n is none }} {{ messages[0].content is not string }}")
    # --- methods
    case("m_strip", "[{{ '  a  '.strip() }}][{{ '  a  '.lstrip() }}][{{ '  a  '.rstrip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\na\\n'.strip('\\n') }}][{{ 'abcba'.strip('ab') }}]")
    case("m_split", "{{ 'a,b,,c'.split(',') }} {{ ' a  b \\n c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }} {{ 'a b c'.rsplit(None, 1) }} {{ ''.split() }} {{ ''.split(',') }} {{ 'a<think>b</think>c'.split('</think>')[-1] }} {{ 'a  b'.split(maxsplit=1) }}")
    case("m_starts_ends", "{{ s.startswith('Hell') }} {{ s.startswith(('x', 'H')) }} {{ s.endswith('World') }} {{ s.endswith('o', 0, 5) }} {{ s.startswith('World', 6) }}")
    case("m_find_count", "{{ s.find('o') }} {{ s.rfind('o') }} {{ s.find('z') }} {{ s.count('o') }} {{ s.index('W') }} {{ u.find('😀') }} {{ u.count('') }} {{ 'aaaa'.count('aa') }}")
    case("m_case", "{{ 'ab cd'.upper() }} {{ 'AB'.lower() }} {{ \"they're bill's 1st\".title() }} {{ 'hello World'.capitalize() }} {{ 'aBc'.swapcase() }}")
    case("m_replace_join", "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ ', '.join(['x', 'y']) }} {{ ''.join('abc') }}")
    case("m_format", "{{ '{} and {}'.format(1, 'b') }} {{ '{0}{0}{1}'.format('a', 'b') }} {{ '{x}!'.format(x=5) }} {{ '{:>5}|{:<4}|{:^6}|{:05.2f}|{:,}'.format('r', 'l', 'c', 3.14159, 1234567) }} {{ '{{}}{}'.format(1) }}")
    case("m_misc_str", "{{ 'ab'.center(6, '*') }} {{ '5'.zfill(3) }} {{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }} {{ 'abc'.removeprefix('a') }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '123'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ 'x'.ljust(3, '.') }} {{ 'x'.rjust(3) }}")
    case("m_dict", "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {{ d.items() }} {{ d.keys() }} {{ messages[0].get('role') }}")
    case("m_tuple", "{{ (1, 2, 1).count(1) }} {{ (1, 2).index(2) }}")
    case("m_loop_over_items_of_tool", "{% for k, v in messages[2].tool_calls[0].function.arguments.items() %}{{ k }}:{{ v }},{% endfor %}")
    # --- globals
    case("g_raise_guarded", "{% if false %}{{ raise_exception('no') }}{% endif %}ok")
    case("g_strftime", "{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %j %I%p %y') }}")
    case("g_dict", "{{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }} {{ dict({'k': 1}, z=2) }}")
    case("g_joiner", "{% set j = joiner(' | ') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}")
    case("python_str_of_values", "{{ messages[2].tool_calls[0].function.arguments|string }}")
    case("chat_like", "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    # --- number formatting corners
    case("printf_floats", "{{ '%.2f|%.1f|%e|%g|%g|%5.1f%%|%.0f|%.0f|%10.3e|%-8.2f|%+d|% d|%x|%o|%c' % (0.125, 0.25, 12345.678, 0.0001234, 1e20, 99.95, 0.5, 1.5, -0.000123456, 3.14159, 5, 7, 255, 8, 65) }}")
    case("format_floats", "{{ '{:.3g}|{:e}|{:,.2f}|{:.1%}|{:08.3f}|{:+.2e}|{}|{}|{:g}|{:.0f}'.format(1234567, 0.5, 1234567.891, 0.123456, -3.14159, 12345.6789, 1.0, 1e-7, 100000000.0, 2.5) }}")
    case("round_floats", "{{ 2.675|round(2) }} {{ 0.5|round }} {{ 1.5|round }} {{ -0.5|round }} {{ 1234.5678|round(-2) }} {{ 5|round(-1) }} {{ 2.5|round(0, 'ceil') }} {{ 1e16|round }} {{ (0.1 + 0.2)|round(15) }}")
    case("float_repr", "{{ 0.1 }} {{ 1/3 }} {{ 2/3 }} {{ 1e22 }} {{ 1.5e-7 }} {{ 123456789.123456789 }} {{ 5e-324 }} {{ 1.7976931348623157e308 }} {{ -1e-4 }} {{ 1e-4 }} {{ 0.0001234 }} {{ 1e15 + 0.3 }}")
    # --- markupsafe.Markup (what |safe and |e return): + and % escape the plain side
    case("markup_add", "{{ '<|user|>' + 'x'|safe }}|{{ ('<a>'|e) + '<b>' }}|{{ ('a'|safe) + ('<'|safe) }}|{{ '<'|safe ~ '<' }}|{{ ('<'|e)|e }}")
    case("markup_behaves_as_text", "{{ ('<x>'|safe)|length }}|{{ ('<x>'|safe)[1] }}|{{ ('abc'|safe) == 'abc' }}|{{ 'b' in ('abc'|safe) }}|{{ ('x'|safe) is string }}|{{ ('x'|safe) is escaped }}|{{ 'x' is escaped }}|{{ ('a b'|safe).split() }}|{{ ['<'|safe, 'b']|join('-') }}")
    case("markup_mod", "{{ ('%s<'|safe) % '<' }}|{{ ('%s|%s'|safe) % ('<', 1) }}|{{ ('<'|safe) * 2 }}")
    case("markup_print_repr", "{{ ['<'|e] }}|{{ ('<'|e)|string }}|{{ none|e }}|{{ ('a'|safe)|tojson }}")
    # --- scoping corners
    case("scope_loop_var_does_not_leak", "{% for i in [1, 2] %}{% endfor %}[{{ i }}]{% set i = 5 %}{% for i in [1] %}{% endfor %}[{{ i }}]")
    case("scope_if_inside_for", "{% set x = 1 %}{% for i in [1] %}{% if true %}{% set x = 2 %}{% endif %}[{{ x }}]{% endfor %}[{{ x }}]")
    case("scope_macro_in_loop", "{% for i in [1, 2] %}{% macro m() %}<{{ i }}>{% endmacro %}{{ m() }}{% endfor %}")
    case("scope_macro_locals", "{% set a = 'outer' %}{% macro m() %}{% set a = 'inner' %}{{ a }}{% endmacro %}{{ m() }}{{ a }}")
    case("scope_namespace_in_macro", "{% set ns = namespace(n=0) %}{% macro inc() %}{% set ns.n = ns.n + 1 %}{% endmacro %}{{ inc() }}{{ inc() }}{{ ns.n }}")
    case("scope_block_set_namespace", "{% set ns = namespace(t='') %}{% for i in [1, 2] %}{% set ns.t %}{{ ns.t }}{{ i }}{% endset %}{% endfor %}{{ ns.t }}")
    case("scope_with_shadow", "{% set a = 1 %}{% with a = a + 1 %}{{ a }}{% set b = 3 %}{% endwith %}{{ a }}[{{ b }}]")
    case("scope_nested_loops_loopvar", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in [1] %}{{ outer.index }}{{ loop.index }}{% endfor %}{% endfor %}")
    case("scope_caller_args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) each([1, 2]) %}[{{ v * 2 }}]{% endcall %}")
    case("scope_set_in_generation", "{% set x = 1 %}{% generation %}{% set x = 2 %}{{ x }}{% endgeneration %}{{ x }}")
    case("filter_chain_first", "{{ (messages|selectattr('role', 'equalto', 'system')|first).content }}|{{ messages|map(attribute='role')|unique|join(',') }}|{{ messages|rejectattr('content')|list|length }}")
    case("defined_guard", "{{ x if x is defined else 'd' }}|{{ messages[9].content if messages|length > 9 else 'short' }}|{{ (messages[9] is defined) }}")
    case("big_ints", "{{ 2 ** 62 }} {{ 9007199254740993 }} {{ 9007199254740993 + 1 }} {{ 1e308 * 10 }} {{ -(2 ** 63) }} {{ 2 ** 100 }} {{ (2 ** 64) // 3 }} {{ -(2 ** 64) % 7 }} {{ 2 ** 64 > 1.5 }} {{ 2 ** 64 == 18446744073709551616.0 }} {{ (2 ** 64 - 2 ** 64) is integer }} {{ -5 is integer }}")
    case("big_ints_json", "{{ big|tojson }} {{ big }} {{ big + 1 }} {{ big is integer }} {{ -big }} {{ big|string|length }} {{ '123456789012345678901234567890'|int + 1 }}", {"big": 123456789012345678901234567890})
    # --- where @huggingface/jinja differs from Python Jinja2 (see JinjaDifferentialTests)
    case("js_dev_whitespace_set", "[{{ s1|trim }}][{{ s1.strip() }}][{{ s1.split()|length }}]", {"s1": "\ufeff\x85 a \x1c\u3000\u2028"})
    case("js_dev_strip_chars", "[{{ s2.strip('\\n') }}][{{ s2.lstrip('\\n') }}][{{ s2.rstrip('\\n') }}][{{ s2.strip(' \\n') }}]", {"s2": "\n\u3000 x \n"})
    case("js_dev_undefined_key", "{% set e = {} %}[{{ e[nothing] }}][{{ l[nothing] }}][{{ d[nothing] is defined }}]")
    case("js_dev_dict_equality", "{% set a = {'x': [1]} %}{% set b = {'x': [1]} %}{{ a == b }} {{ [a] == [b] }} {{ a in [b] }} {{ messages[1] == messages[1] }}")
    case("js_dev_none", "[{{ none }}][{{ none|string }}][{{ 'a' ~ none }}][{{ {'k': none}.k }}][{{ [none, true] }}]")
    case("js_dev_dict_string", "{{ {'a': 'b', 'c': [1, 2.5, none, true]}|string }}")
    # --- errors (must fail)
    ERR = []
    def err(name, template, ctx=None):
        ERR.append((name, template, ctx))
    err("e_raise", "a{{ raise_exception('Bad role: ' ~ 'x') }}")
    err("e_unknown_filter", "{{ 1|nosuchfilter }}")
    err("e_unknown_test", "{{ 1 is nosuchtest }}")
    err("e_unknown_filter_in_if_runtime", "{% if true %}{{ 1|nosuchfilter }}{% endif %}")
    err("e_unclosed_block", "{% if true %}x")
    err("e_unclosed_var", "{{ x ")
    err("e_unknown_tag", "{% frobnicate %}")
    err("e_bad_end", "{% for x in l %}{% endif %}")
    err("e_undefined_attr", "{{ nothing.attr }}")
    err("e_undefined_call", "{{ nothing() }}")
    err("e_not_callable", "{{ n() }}")
    err("e_add_str_int", "{{ 'a' + 1 }}")
    err("e_add_undefined", "{{ nothing + 1 }}")
    err("e_compare_types", "{{ 1 < 'a' }}")
    err("e_div_zero", "{{ 1 / 0 }}")
    err("e_mod_zero", "{{ 2 % 0 }}")
    err("e_floordiv_zero", "{{ 2 // 0 }}")
    err("e_macro_too_many", "{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}")
    err("e_macro_bad_kwarg", "{% macro f(a) %}{% endmacro %}{{ f(b=1) }}")
    err("e_iter_none", "{% for x in none %}{% endfor %}")
    err("e_iter_int", "{% for x in 5 %}{% endfor %}")
    err("e_len_int", "{{ 5|length }}")
    err("e_tojson_undefined", "{{ nothing|tojson }}")
    err("e_set_ns_non_namespace", "{% set x = 1 %}{% set x.a = 2 %}")
    err("e_break_outside", "{% break %}")
    err("e_unterminated_string", "{{ 'abc }}")
    err("e_unexpected_char", "{{ a ! b }}")
    err("e_unbalanced", "{{ (1 }}")
    err("e_missing_comment_end", "{# abc")
    err("e_slice_step_zero", "{{ l[::0] }}")
    err("e_in_string_int", "{{ 1 in 'abc' }}")
    err("e_unpack", "{% for a, b in [1, 2] %}{% endfor %}")
    err("e_range_too_big", "{{ range(200000)|length }}")
    err("e_generator_len", "{{ l|select|length }}")
    err("e_extends", "{% extends 'base' %}")
    err("e_int_overflow_noop", "{{ nothing['x'] }}")
    err("e_chained_is", "{{ 1 is number is number }}")
    err("e_method_on_undefined", "{{ nothing.strip() }}")
    err("e_neg_string", "{{ -'a' }}")
    err("e_dictsort_list", "{{ l|dictsort }}")
    err("e_js_dev_add_str_dict", "{{ 'a' + {'x': 1} }}")
    err("e_deep_recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")

    out = {"generator": "python_jinja2_cases.py", "jinja2_version": jinja2.__version__, "fixed_now": FIXED_NOW.isoformat(),
           "default_context": CTX, "cases": []}
    for name, template, ctx in T:
        try:
            rendered = env.from_string(template).render(**(ctx if ctx is not None else CTX))
        except Exception as e:
            sys.exit(f"case {name} unexpectedly failed: {type(e).__name__}: {e}")
        out["cases"].append({"name": name, "template": template, "context": ctx, "expected": rendered})
    for name, template, ctx in ERR:
        try:
            rendered = env.from_string(template).render(**(ctx if ctx is not None else CTX))
            sys.exit(f"error case {name} rendered: {rendered!r}")
        except jinja2.exceptions.TemplateSyntaxError as e:
            out["cases"].append({"name": name, "template": template, "context": ctx, "error": f"{type(e).__name__}: {e}", "error_line": e.lineno})
        except Exception as e:
            out["cases"].append({"name": name, "template": template, "context": ctx, "error": f"{type(e).__name__}: {e}"})

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "python-jinja2-cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(out['cases'])} cases to {path}")


if __name__ == "__main__":
    main()
