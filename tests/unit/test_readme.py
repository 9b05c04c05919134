"""The docs' inputs/outputs tables stay in sync with the module, and README and docs advertise only what exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
TERRAFORM_DOC = (ROOT / "docs" / "terraform.md").read_text()
DOCS = README + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))


def table_names(heading: str) -> set[str]:
    section = TERRAFORM_DOC.split(f"## {heading}\n", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE))


def declared(kind: str, file: str) -> set[str]:
    return set(re.findall(rf'^{kind} "([a-z0-9_]+)"', (ROOT / file).read_text(), flags=re.MULTILINE))


def test_the_terraform_tables_are_generated_from_the_code():
    import importlib.util

    spec = importlib.util.spec_from_file_location("terraform_tables", ROOT / "docs" / "terraform_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    assert tables.render(TERRAFORM_DOC) == TERRAFORM_DOC, "run `make docs`"
    # and the generator reads what it should: a heredoc description, a multi-line object type
    (function_config,) = [line for line in TERRAFORM_DOC.splitlines() if line.startswith("| `function_config` |")]
    assert "Per-function sizing" in function_config and "optional(number, 1769)" in function_config


def test_inputs_table_lists_exactly_the_module_variables():
    assert table_names("Inputs") == declared("variable", "variables.tf")


def test_outputs_table_lists_exactly_the_module_outputs():
    assert table_names("Outputs") == declared("output", "outputs.tf")


def test_every_make_target_the_readme_names_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))
    readmes = DOCS + (ROOT / "clients" / "js" / "README.md").read_text()
    named = set(re.findall(r"`make ([a-z][a-z-]*)`", readmes))
    named |= set(re.findall(r"^make ([a-z][a-z-]*)", readmes, re.MULTILINE))
    assert {"js-types", "js-check"} <= named and named <= targets


def test_one_version_everywhere_and_the_readme_uses_its_tag():
    import json

    from hermes_notifications import __version__

    package = json.loads((ROOT / "clients" / "js" / "package.json").read_text())
    assert package["version"] == __version__
    assert f"?ref=v{__version__}" in README
    assert f"## {__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_the_readme_links_only_to_files_that_exist():
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (ROOT / target).exists(), target
    for doc in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name}: {target}"


def test_every_test_docs_security_names_exists():
    """docs/security.md says which test covers each attack: each named test (file::name, or ::name after a
    file in the same cell, or a tftest run) must exist, so the page cannot point at a test that was renamed."""
    text = (ROOT / "docs" / "security.md").read_text()
    sources = {p.name: p.read_text() for p in ROOT.glob("tests/**/*.py")}
    sources |= {p.name: p.read_text() for p in ROOT.glob("clients/js/test/*.mjs")}
    tftest = (ROOT / "tests" / "hermes.tftest.hcl").read_text()
    missing, checked = [], 0
    for cell in re.findall(r"\|([^|\n]*(?:test_|tftest)[^|\n]*)\|\s*$", text, flags=re.MULTILINE):
        current = None
        for file, name in re.findall(r"`(?:([\w.]+\.(?:py|mjs)))?(?:::)?(test_\w+)?[^`]*`", cell):
            current = file or current
            if name:
                checked += 1
                if current is None or f"def {name}(" not in sources.get(current, ""):
                    missing.append(f"{current}::{name}")
        for run in re.findall(r"tftest `([a-z_]+)`(?:, `([a-z_]+)`)?", cell):
            for name in filter(None, run):
                checked += 1
                if f'run "{name}"' not in tftest:
                    missing.append(f"tftest {name}")
    assert checked > 30 and not missing, missing


NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}


def _count_said(text: str, pattern: str) -> int:
    match = re.search(pattern, text)
    assert match, f"the docs no longer say {pattern!r}: update this test with them"
    return NUMBERS[match.group(1).lower()]


def test_the_docs_count_the_functions_tables_and_queues_the_module_creates():
    # GIVEN what the module declares
    main = (ROOT / "main.tf").read_text()
    api_keys = re.search(r"api_function_keys\s*=\s*\[([^\]]*)\]", main).group(1)
    functions = len(re.findall(r'"[a-z_]+"', api_keys)) + len(re.findall(r'\? \["tokens"\] :', main))
    tables = len(
        re.findall(r'^resource "aws_dynamodb_table"', (ROOT / "modules/connection_store/main.tf").read_text(), re.M)
    )
    queues = len(re.findall(r'^module "[a-z_]+" \{\n  source = "\./modules/message_queue"', main, re.M))
    queue_module = (ROOT / "modules/message_queue/main.tf").read_text()
    # WHEN the docs describe it THEN they give the same numbers
    assert _count_said(TERRAFORM_DOC, r"(\w+) Python Lambdas") == functions
    assert _count_said(README, r"(\w+) Python Lambdas") == functions
    assert _count_said(TERRAFORM_DOC, r"(\w+) DynamoDB tables") == tables
    assert _count_said(TERRAFORM_DOC, r"(\w+) SQS queues") == queues
    assert 'resource "aws_sqs_queue" "dlq"' in queue_module and "each with a DLQ" in TERRAFORM_DOC


def test_the_generated_key_is_described_as_the_code_makes_it():
    # GIVEN the generator: generated_length hex characters from version-4 UUIDs (122 random bits per 32)
    secret_vars = (ROOT / "modules/secret/variables.tf").read_text()
    length = int(re.search(r'variable "generated_length" \{.*?default\s*=\s*(\d+)', secret_vars, re.S).group(1))
    assert "uuid()" in (ROOT / "modules/secret/main.tf").read_text()
    assert length % 32 == 0, "whole UUIDs only, or the bit count below is wrong"
    random_bits = length // 32 * 122
    # THEN jwt_secret_value's description says that length, that source and that entropy
    description = re.search(
        r'variable "jwt_secret_value" \{\n  description = "([^"\n]*(?:\\"[^"\n]*)*)"',
        (ROOT / "variables.tf").read_text(),
    ).group(1)
    assert (
        f"{length} hex characters" in description
        and "UUID" in description
        and f"{random_bits} random bits" in description
    )


def test_the_publisher_policy_is_described_as_sqs_only():
    # The output's description and the consumer flow must not promise table or secret access (SQS only since 0.2.0).
    outputs = (ROOT / "outputs.tf").read_text()
    description = re.search(r'output "publisher_policy_json" \{\n  description = "([^"\n]*)"', outputs).group(1)
    for said in (description, TERRAFORM_DOC):
        for wrong in ("tokens table, secret", "queue, tokens table"):
            assert wrong not in said
    assert "sqs:SendMessage" in description
