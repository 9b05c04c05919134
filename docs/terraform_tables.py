"""The Terraform inputs/outputs tables of docs/terraform.md, generated from variables.tf and outputs.tf.

    python docs/terraform_tables.py          # rewrite the tables (make docs)
    python docs/terraform_tables.py --check  # exit 1 if docs/terraform.md is not what the code says (CI)

Reads the raw HCL of each top-level ``variable``/``output`` block: description (quoted or heredoc), type and
default exactly as written, whitespace collapsed. No HCL library is needed for blocks this regular.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "docs" / "terraform.md"
MARKERS = {
    "inputs": ("<!-- BEGIN inputs: generated from variables.tf by `make docs` -->", "<!-- END inputs -->"),
    "outputs": ("<!-- BEGIN outputs: generated from outputs.tf by `make docs` -->", "<!-- END outputs -->"),
}


def blocks(text: str, kind: str) -> list[tuple[str, str]]:
    """(name, body) of each top-level ``kind "name" { ... }`` block, in file order."""
    found = []
    for match in re.finditer(rf'^{kind} "([A-Za-z0-9_]+)" \{{\n(.*?)^\}}', text, flags=re.MULTILINE | re.DOTALL):
        found.append((match.group(1), match.group(2)))
    return found


def attribute(body: str, name: str) -> str | None:
    """The raw expression of a top-level (2-space indented) attribute, multi-line values included."""
    lines = body.splitlines()
    for index, line in enumerate(lines):
        match = re.match(rf"^  {name}\s*=\s*(.*)$", line)
        if not match:
            continue
        value = match.group(1)
        heredoc = re.match(r"<<-?(\w+)$", value)
        if heredoc:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == heredoc.group(1))
            return json.dumps(" ".join(line.strip() for line in lines[index + 1 : end]))
        depth = _depth(value)
        joined = value
        for more in lines[index + 1 :]:
            if depth <= 0:
                break
            more = more.strip()
            # HCL separates object attributes by newlines; one line needs commas
            separator = " " if joined.endswith(("(", "{", "[", ",")) or more.startswith((")", "}", "]")) else ", "
            joined += separator + more
            depth += _depth(more)
        return joined
    return None


def _depth(text: str) -> int:
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)  # brackets inside strings do not count
    return sum(text.count(c) for c in "({[") - sum(text.count(c) for c in ")}]")


def _compact(expression: str) -> str:
    expression = re.sub(r"\s+", " ", expression).strip()
    return re.sub(r"([({\[]) ", r"\1", re.sub(r" ([)}\]])", r"\1", expression)).replace(", }", " }")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _description(body: str) -> str:
    raw = attribute(body, "description")
    return json.loads(raw) if raw else ""


def inputs_table(variables_tf: str) -> str:
    rows = ["| Name | Type | Default | Description |", "|---|---|---|---|"]
    for name, body in blocks(variables_tf, "variable"):
        type_ = _compact(attribute(body, "type") or "any")
        default = attribute(body, "default")
        default_cell = f"`{_cell(_compact(default))}`" if default is not None else "required"
        rows.append(f"| `{name}` | `{_cell(type_)}` | {default_cell} | {_cell(_description(body))} |")
    return "\n".join(rows)


def outputs_table(outputs_tf: str) -> str:
    rows = ["| Name | Description |", "|---|---|"]
    for name, body in blocks(outputs_tf, "output"):
        rows.append(f"| `{name}` | {_cell(_description(body))} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    tables = {
        "inputs": inputs_table((ROOT / "variables.tf").read_text()),
        "outputs": outputs_table((ROOT / "outputs.tf").read_text()),
    }
    for key, (begin, end) in MARKERS.items():
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), flags=re.DOTALL)
        if not pattern.search(readme):
            raise SystemExit(f"{README.name} has no {begin} ... {end} section")
        readme = pattern.sub(lambda _: f"{begin}\n{tables[key]}\n{end}", readme)  # noqa: B023
    return readme


def main(argv: list[str]) -> int:
    current = README.read_text()
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print("docs/terraform.md's tables differ from the code: run `make docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
