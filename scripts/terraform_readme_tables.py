#!/usr/bin/env python3
"""Write the input and output tables of terraform/README.md from the .tf files (standard library only).

Each table sits between `<!-- BEGIN_TABLES <dir> -->` and `<!-- END_TABLES <dir> -->`, <dir> relative to
terraform/ (`.` for the root module). Run from anywhere:

    python3 scripts/terraform_readme_tables.py            # rewrite the tables
    python3 scripts/terraform_readme_tables.py --check    # exit 1 if a table differs from the code
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TERRAFORM = Path(__file__).resolve().parent.parent / "terraform"
README = TERRAFORM / "README.md"
MARKERS = re.compile(r"(<!-- BEGIN_TABLES (\S+) -->\n)(.*?)(<!-- END_TABLES \2 -->)", re.S)


def _skip_string(text: str, i: int) -> int:
    """Index just past the string literal opening at text[i] (a quote), interpolations included."""
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if text.startswith("${", i) or text.startswith("%{", i):
            i = _skip_braces(text, i + 1)
            continue
        i += 1
    raise ValueError("unterminated string")


def _skip_braces(text: str, i: int) -> int:
    """Index just past the brace block opening at text[i] ('{'), skipping strings and nested blocks."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c == "#" or text.startswith("//", i):
            i = text.index("\n", i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced braces")


def blocks(text: str, kind: str) -> list[tuple[str, str]]:
    """(label, body) of every top-level `kind "label" { ... }` block."""
    found = []
    for match in re.finditer(rf'^{kind}\s+"([^"]+)"\s*\{{', text, re.M):
        start = match.end() - 1
        found.append((match.group(1), text[start + 1 : _skip_braces(text, start) - 1]))
    return found


def attribute(body: str, name: str) -> str | None:
    """The expression of a top-level attribute of a block body, on one line (None when absent)."""
    depth, i = 0, 0
    while i < len(body):
        c = body[i]
        if c == '"':
            i = _skip_string(body, i)
            continue
        if c == "#":
            i = body.find("\n", i) if "\n" in body[i:] else len(body)
            continue
        if c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
        elif depth == 0 and body.startswith(name, i) and (i == 0 or body[i - 1] in " \t\n"):
            match = re.match(rf"{name}\s*=\s*", body[i:])
            if match:
                j = start = i + match.end()
                inner = 0
                while j < len(body):
                    d = body[j]
                    if d == '"':
                        j = _skip_string(body, j)
                        continue
                    if d in "{[(":
                        inner += 1
                    elif d in "}])":
                        inner -= 1
                    elif d == "\n" and inner == 0:
                        break
                    j += 1
                return one_line(body[start:j])
        i += 1
    return None


def one_line(expression: str) -> str:
    """A multi-line expression on one line: attributes of an object type or items of a list comma-separated."""
    lines = [" ".join(line.split()) for line in re.sub(r"#[^\n\"]*$", "", expression, flags=re.M).splitlines()]
    joined = ""
    for line in filter(None, lines):
        glue = " " if not joined or joined.endswith(("{", "[", "(", ",")) or line.startswith(("}", "]", ")")) else ", "
        joined = f"{joined}{glue}{line}" if joined else line
    return joined


def string_value(expression: str | None) -> str:
    if expression is None:
        return ""
    if expression.startswith('"') and expression.endswith('"'):
        return expression[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return expression


def cell(text: str) -> str:
    """Table-cell text: no pipe, and no `<word>` outside a code span that a renderer would take for an HTML tag."""
    parts = text.replace("|", "\\|").split("`")
    for i in range(0, len(parts), 2):  # the even parts are outside code spans
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def code(text: str) -> str:
    escaped = text.replace("|", "\\|")
    return f"`{escaped}`" if text else ""


def tables(module: Path) -> str:
    variables, outputs = [], []
    for path in sorted(module.glob("*.tf")):
        text = path.read_text()
        variables += blocks(text, "variable")
        outputs += blocks(text, "output")
    lines = ["| input | type | default | description |", "|---|---|---|---|"]
    for name, body in sorted(variables):
        default = attribute(body, "default")
        shown = "required" if default is None else code(default)
        lines.append(
            f"| `{name}` | {code(attribute(body, 'type') or 'any')} | {shown} | "
            f"{cell(string_value(attribute(body, 'description')))} |"
        )
    lines += ["", "| output | description |", "|---|---|"]
    for name, body in sorted(outputs):
        lines.append(f"| `{name}` | {cell(string_value(attribute(body, 'description')))} |")
    return "\n".join(lines) + "\n"


def render(readme: str) -> str:
    def replace(match: re.Match) -> str:
        module = (TERRAFORM / match.group(2)).resolve()
        if not module.is_dir():
            raise SystemExit(f"README.md names a module that does not exist: {match.group(2)}")
        return match.group(1) + tables(module) + match.group(4)

    return MARKERS.sub(replace, readme)


def main(argv: list[str]) -> int:
    current = README.read_text()
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print(f"{README} is out of date: run python3 {Path(__file__).relative_to(TERRAFORM.parent)}")
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
