#!/usr/bin/env python3
"""Validates gptc batch files in OpenAI's Batch API format with the jsonschema package (the tests
of gptc batch call this; the schemas in test/data/openai/ are derived from OpenAI's OpenAPI
description, see the README there).

  check_openai_batch.py SCHEMA_DIR input FILE    every line is a valid batch input line
  check_openai_batch.py SCHEMA_DIR output FILE   every line is a valid batch output line: a
                                                 result (its body a chat.completion or a
                                                 text_completion object) or an error record

Prints "ok N" (N lines checked) and exits 0, or prints each failure and exits 1.
"""
import json
import os
import sys

import jsonschema


def load(schema_dir, name):
    with open(os.path.join(schema_dir, name + ".schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def main():
    schema_dir, mode, path = sys.argv[1:4]
    v = {n: load(schema_dir, n) for n in ("batch_input", "batch_output", "batch_error",
                                          "chat_completion", "text_completion")}
    fails = []
    n = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            n += 1
            try:
                obj = json.loads(line)
            except ValueError as e:
                fails.append("line %d: not JSON: %s" % (lineno, e))
                continue
            checks = []
            if mode == "input":
                checks.append(("batch_input", obj))
            else:
                checks.append(("batch_output", obj))
                if obj.get("error") is not None or obj.get("response") is None:
                    checks.append(("batch_error", obj))
                else:
                    body = obj["response"].get("body", {})
                    kind = ("text_completion" if body.get("object") == "text_completion"
                            else "chat_completion")
                    checks.append((kind, body))
            for name, o in checks:
                for err in v[name].iter_errors(o):
                    fails.append("line %d (%s): %s at %s" % (lineno, name, err.message,
                                                             list(err.absolute_path)))
    if fails:
        for m in fails[:20]:
            print(m)
        sys.exit(1)
    print("ok %d" % n)


if __name__ == "__main__":
    main()
