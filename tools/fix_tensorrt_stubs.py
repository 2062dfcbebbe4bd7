"""Make the published tensorrt-stubs parse, so mypy can check our TensorRT layer against them.

The stubs are generated from TensorRT's pybind11 bindings and carry two kinds of invalid Python:
parameters named ``in`` (a keyword) and parameters without a default after ones with a default.
Both are fixed in place, line by line, without changing any type. Usage:
``python tools/fix_tensorrt_stubs.py .typings``
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

DEF = re.compile(r"^(\s*def \w+\()(.*)(\)\s*->.*:\s*)$")


def split_params(params: str) -> list[str]:
    out, depth, current = [], 0, ""
    for ch in params:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        out.append(current)
    return out


def fix_line(line: str) -> str:
    match = DEF.match(line)
    if not match:
        return line
    head, params, tail = match.groups()
    fixed, seen_default = [], False
    for param in split_params(params):
        param = re.sub(r"^(\s*)in(\s*:)", r"\1in_\2", param)
        name = param.split(":")[0].strip()
        if "=" in param:
            seen_default = True
        elif seen_default and not name.startswith("*"):
            param = param + " = ..."
        fixed.append(param)
    return head + ",".join(fixed) + tail


def fix_file(path: Path) -> int:
    lines = path.read_text().splitlines(keepends=True)
    new = [fix_line(line.rstrip("\n")) + ("\n" if line.endswith("\n") else "") for line in lines]
    changed = sum(a != b for a, b in zip(lines, new))
    path.write_text("".join(new))
    ast.parse(path.read_text())  # fail loudly if anything is still invalid
    return changed


def main(root: str) -> int:
    for path in sorted(Path(root).rglob("*.pyi")):
        changed = fix_file(path)
        if changed:
            print(f"{path}: fixed {changed} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".typings"))
