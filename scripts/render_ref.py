#!/usr/bin/env python3
"""render_ref.py — the reference renderer for gptc's harmony prompts: applies gpt-oss's chat
template (Jinja) with an independent engine (python3-jinja2), set up the way Hugging Face
transformers sets it up (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, its own tojson filter, raise_exception and strftime_now helpers).

usage: render_ref.py TEMPLATE.jinja CASES.jsonl DATE OUTDIR
Each line of CASES.jsonl is one conversation: {"name", "messages", "tools"?,
"reasoning_effort"?, "add_generation_prompt"? (default true)}. Writes OUTDIR/NAME.txt with the
rendered prompt, or OUTDIR/NAME.err with the template's error. strftime_now formats DATE
(YYYY-MM-DD), so gptc render --date DATE gives the same system message.

Tool-call arguments given as a JSON string (OpenAI's shape) are parsed to an object first, as
inference servers do before applying this template (it writes them with |tojson); a "content"
or "thinking" of null is dropped (the template cannot take None there)."""
import datetime
import json
import os
import sys

from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateError(Exception):
    pass


def main():
    tmpl_path, cases_path, date, outdir = sys.argv[1:5]
    day = datetime.datetime.strptime(date, "%Y-%m-%d")

    def raise_exception(msg):
        raise TemplateError(msg)

    def strftime_now(fmt):
        return day.strftime(fmt)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # transformers' own filter (Jinja's default escapes HTML and sorts keys)
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    with open(tmpl_path, encoding="utf-8") as f:
        template = env.from_string(f.read())
    os.makedirs(outdir, exist_ok=True)
    with open(cases_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            case = json.loads(line)
            msgs = case["messages"]
            for m in msgs:
                # "content": null (OpenAI's shape for a message with tool calls) is treated as
                # absent: the template tests `"<|channel|>..." in message.content` and fails on
                # None
                for key in ("content", "thinking"):
                    if key in m and m[key] is None:
                        del m[key]
                for tc in m.get("tool_calls") or []:
                    fn = tc.get("function", tc)
                    if isinstance(fn.get("arguments"), str):
                        fn["arguments"] = json.loads(fn["arguments"])
            kw = {"messages": msgs,
                  "add_generation_prompt": case.get("add_generation_prompt", True)}
            if case.get("tools") is not None:
                kw["tools"] = case["tools"]
            if case.get("reasoning_effort") is not None:
                kw["reasoning_effort"] = case["reasoning_effort"]
            name = case["name"]
            try:
                out = template.render(**kw)
                path, data = os.path.join(outdir, name + ".txt"), out
            except Exception as e:  # the template refused this conversation
                path, data = os.path.join(outdir, name + ".err"), "%s: %s\n" % (type(e).__name__, e)
            with open(path, "w", encoding="utf-8", newline="") as o:
                o.write(data)


if __name__ == "__main__":
    main()
