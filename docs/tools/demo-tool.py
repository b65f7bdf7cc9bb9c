#!/usr/bin/env python3
"""demo-tool.py — the two functions of docs/tools/tools.json, for gptc chat --tool-exec:
gptc runs this once per call with the arguments (JSON) on stdin and the function name in
GPTC_TOOL_NAME; what it prints is the result the model reads.
  calc {"expr": "..."}  evaluates + - * / // % ** and parentheses on numbers (no names, no calls)
  now  {}               the local date and time"""
import ast
import datetime
import json
import operator
import os
import sys

OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
       ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
       ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def evaluate(node):
    if isinstance(node, ast.Expression):
        return evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        left, right = evaluate(node.left), evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 1000:
            raise ValueError("exponent too large")
        return OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in OPS:
        return OPS[type(node.op)](evaluate(node.operand))
    raise ValueError("only numbers and + - * / // % ** ( ) are allowed")


def main():
    name = os.environ.get("GPTC_TOOL_NAME", "")
    try:
        args = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError as e:
        print("error: the arguments are not JSON (%s)" % e)
        return 0
    if name == "now":
        print(datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S %A"))
    elif name == "calc":
        try:
            print(evaluate(ast.parse(str(args.get("expr", "")), mode="eval")))
        except (ValueError, SyntaxError, ZeroDivisionError, OverflowError) as e:
            print("error: %s" % e)
    else:
        print("error: unknown function %r" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
