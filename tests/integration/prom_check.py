#!/usr/bin/env python3
"""prom_check.py - a strict checker of the Prometheus text exposition format 0.0.4.

  prom_check.py FILE      exit 0 and print every sample as JSON lines
                          {"name": ..., "labels": {...}, "value": ...}; exit 1 naming the
                          first line that breaks the format

Checks every line against the format's grammar (metric and label names, label values with
only \\\\, \\" and \\n escaped, the value and optional timestamp, HELP and TYPE lines),
and the rules around it: a family's TYPE before its samples and at most once, HELP at most
once, a family's samples in one group, no series twice, counters named *_total (this
project's rule), no blank lines, a final line feed. Standard library only.
"""
import json
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
FLOAT = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|[+-]Inf)"
SAMPLE = re.compile(
    rf"^({NAME})(?:\{{((?:{LABEL_NAME}={LABEL_VALUE})(?:,{LABEL_NAME}={LABEL_VALUE})*)?\}})?"
    rf" ({FLOAT})(?: (-?[0-9]+))?$")
LABEL = re.compile(rf"({LABEL_NAME})=({LABEL_VALUE})")
HELP = re.compile(rf"^# HELP ({NAME}) ((?:[^\\\n]|\\\\|\\n)*)$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")
SUFFIXES = ("_bucket", "_count", "_sum")


def unescape(value):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value[1:-1])


def check(text):
    if not text.endswith("\n"):
        raise ValueError("the last line has no line feed")
    types, helps, done, series, samples = {}, set(), set(), set(), []
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}: {line!r}"
        if line == "":
            raise ValueError(f"{where}: blank line")
        if line.startswith("# HELP "):
            m = HELP.match(line)
            if not m:
                raise ValueError(f"{where}: malformed HELP")
            if m.group(1) in helps:
                raise ValueError(f"{where}: second HELP for {m.group(1)}")
            helps.add(m.group(1))
            continue
        if line.startswith("# TYPE "):
            m = TYPE.match(line)
            if not m:
                raise ValueError(f"{where}: malformed TYPE")
            family = m.group(1)
            if family in types:
                raise ValueError(f"{where}: second TYPE for {family}")
            if family in done or family == current:
                raise ValueError(f"{where}: TYPE after samples of {family}")
            if m.group(2) == "counter" and not family.endswith("_total"):
                raise ValueError(f"{where}: counter not named *_total")
            types[family] = m.group(2)
            continue
        if line.startswith("#"):
            continue  # a comment
        m = SAMPLE.match(line)
        if not m:
            raise ValueError(f"{where}: not a sample line")
        name = m.group(1)
        family = name
        for suffix in SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in types:
                family = name[: -len(suffix)]
        if family != current:
            if family in done:
                raise ValueError(f"{where}: samples of {family} not in one group")
            if current is not None:
                done.add(current)
            current = family
        labels = {}
        for lm in LABEL.finditer(m.group(2) or ""):
            if lm.group(1) in labels:
                raise ValueError(f"{where}: label {lm.group(1)} twice")
            labels[lm.group(1)] = unescape(lm.group(2))
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise ValueError(f"{where}: series given twice")
        series.add(key)
        value = float(m.group(3).replace("Inf", "inf"))
        if types.get(family) == "counter" and value < 0:
            raise ValueError(f"{where}: negative counter")
        samples.append({"name": name, "labels": labels, "value": value})
    return samples


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        samples = check(text)
    except ValueError as e:
        print(f"prom_check: {argv[1]}: {e}", file=sys.stderr)
        return 1
    for s in samples:
        print(json.dumps(s, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
