#!/usr/bin/env python3
"""Build the Lambda artifacts: one zip per function and one shared dependency layer per architecture.

    python build.py [--arch x86_64|arm64|all] [--runtime python3.12] [--out dist]

The layer ships bytecode (``__pycache__/*.cpython-3XY.pyc``) compiled by the runtime's own Python minor
version (found on PATH, under pyenv, or named by ``HERMES_BUILD_PYTHON``), so a cold start does not compile
PyJWT, Powertools and the handler's own modules again (bench section 3). Bytecode for one runtime only: the
layer with every runtime's would pass 2 MB; a runtime that finds no bytecode of its version compiles the sources.

Deterministic: the same sources give byte-identical zips (sorted entries, fixed timestamps and
permissions), so Terraform's ``source_code_hash`` changes only when code does. ``manifest.json``
lists every artifact with its base64 SHA-256. Re-running with nothing changed rewrites nothing: the
layer is rebuilt only when its pinned requirements, architecture or Python version change.
Uses only the standard library and pip.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "lambda_src"
FUNCTIONS_DIR = SRC / "functions"
PACKAGE_DIR = SRC / "hermes_notifications"
LAYER_REQUIREMENTS = SRC / "layer-requirements.txt"

FUNCTIONS = ("authorizer", "client_routes", "connect", "disconnect", "send_message", "tokens")
# The modules of the hermes_notifications package that run on Lambda (an allowlist: the SDK and CLI in the
# same package never ship in a function zip, nor does anything added later until it is listed here).
RUNTIME_MODULES = (
    "__init__.py",
    "batching.py",
    "config.py",
    "delivery.py",
    "dispatch.py",
    "envelope.py",
    "errors.py",
    "fanout.py",
    "history.py",
    "ids.py",
    "lambda_logging.py",
    "presence.py",
    "poster.py",
    "routes.py",
    "signing_keys.py",
    "store.py",
    "tokens.py",
)
# The token function issues and revokes as the SDK does: it ships the SDK's core (never its CLI or its
# token-function client), in its own zip only.
FUNCTION_MODULES = {"tokens": ("sdk.py", "token_service.py")}
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
RUNTIMES = ("python3.12", "python3.13")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Layer files compiled to bytecode: everything but the parts of Powertools no handler imports (its event
# handlers and utilities other than batch processing and the SQS data classes): all of it would add 1.1 MB
# and push the layer past 2 MB (bench section 4). tests/unit/test_build.py checks that every layer module a
# handler imports has its bytecode.
BYTECODE_SKIP = ("python/aws_lambda_powertools/event_handler/", "python/aws_lambda_powertools/utilities/")
BYTECODE_KEEP = (
    "python/aws_lambda_powertools/utilities/__init__.py",
    "python/aws_lambda_powertools/utilities/batch/",
    "python/aws_lambda_powertools/utilities/data_classes/",
    "python/aws_lambda_powertools/utilities/jmespath_utils/",
)
SKIP_PARTS = {"__pycache__"}
SKIP_SUFFIXES = (".pyc", ".pyo")


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def deterministic_zip(files: dict[str, bytes]) -> bytes:
    """Zip ``{archive name: content}`` the same way every time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16  # regular file, rw-r--r--
            info.create_system = 3  # unix, whatever the build host
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def tree_files(base: Path, prefix: str) -> dict[str, bytes]:
    files = {}
    for path in base.rglob("*"):
        rel = path.relative_to(base)
        if not path.is_file() or SKIP_PARTS & set(rel.parts):
            continue
        if path.name.endswith(SKIP_SUFFIXES):
            continue
        files[f"{prefix}{rel.as_posix()}"] = path.read_bytes()
    return files


def function_files(name: str) -> dict[str, bytes]:
    """The handler module at the zip's root (handler ``<name>.handler``) and the runtime package."""
    modules = RUNTIME_MODULES + FUNCTION_MODULES.get(name, ())
    files = {f"hermes_notifications/{module}": (PACKAGE_DIR / module).read_bytes() for module in modules}
    files[f"{name}.py"] = (FUNCTIONS_DIR / f"{name}.py").read_bytes()
    return files


def functions_with_bytecode(python_version: str) -> dict[str, dict[str, bytes]]:
    """Each function's files plus the bytecode of every one of them (one compiler run for all of them)."""
    sources = {name: function_files(name) for name in FUNCTIONS}
    compiled = bytecode({k: v for files in sources.values() for k, v in files.items()}, python_version, bool)
    return {
        name: files | {pyc: compiled[pyc] for pyc in bytecode_names(files, python_version)}
        for name, files in sources.items()
    }


def layer_inputs_key(arch: str, python_version: str) -> str:
    # build.py itself is an input: a change in how the layer is assembled must rebuild it
    spec = f"{LAYER_REQUIREMENTS.read_text()}|{arch}|{python_version}|{Path(__file__).read_text()}"
    return hashlib.sha256(spec.encode()).hexdigest()


def layer_files(arch: str, python_version: str) -> dict[str, bytes]:
    """pip-install the pinned requirements for the Lambda platform into ``python/``."""
    with tempfile.TemporaryDirectory(prefix="hermes-layer-") as tmp:
        target = Path(tmp) / "python"
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(target),
            "--requirement",
            str(LAYER_REQUIREMENTS),
            "--require-hashes",
            "--platform",
            PLATFORMS[arch],
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            "--no-compile",
            "--upgrade",
        ]
        subprocess.run(command, check=True)
        # boto3 and botocore come with the Lambda runtime; never ship a second copy. Console scripts
        # (bin/) are useless in a layer and carry the build host's interpreter path in their shebang.
        for extra in ("boto3", "botocore", "s3transfer", "bin"):
            for path in target.glob(f"{extra}*"):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        for record in target.glob("*.dist-info/RECORD"):  # and their RECORD lines, for the same reason
            lines = record.read_text().splitlines(keepends=True)
            record.write_text("".join(line for line in lines if not line.startswith("../")))
        files = tree_files(target, "python/")
        return files | bytecode(files, python_version, layer_bytecode)


@functools.cache
def find_python(python_version: str) -> str:
    """An interpreter of exactly this minor version: its bytecode is what the Lambda runtime will load (the
    .pyc magic number changes with every minor version; another version would ignore the files)."""
    candidates = [os.environ.get("HERMES_BUILD_PYTHON", ""), sys.executable, shutil.which(f"python{python_version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob(f"{python_version}.*/bin/python"), reverse=True)]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == python_version:
            return candidate
    raise SystemExit(
        f"build.py needs Python {python_version} to byte-compile the artifacts for the python{python_version} runtime: "
        f"put python{python_version} on PATH or set HERMES_BUILD_PYTHON"
    )


# Runs under the target interpreter: compile each source, named by its path in the archive (tracebacks show
# the real path anyway), with a hash of the source instead of its mtime and no check at import (unchecked:
# a deployed zip or layer never changes), so two builds give the same bytes.
_COMPILE = """
import json, py_compile, sys
root, names = sys.argv[1], json.load(sys.stdin)
for name in names:
    py_compile.compile(f"{root}/{name}", cfile=f"{root}/{name}c", dfile=name, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


def bytecode_names(files: dict[str, bytes], python_version: str) -> dict[str, str]:
    """``{.pyc archive name: .py archive name}``: ``<dir>/__pycache__/<stem>.cpython-3XY.pyc``, where CPython
    looks for the bytecode of ``<dir>/<stem>.py``."""
    tag = "cpython-" + python_version.replace(".", "")
    names = {}
    for name in files:
        if name.endswith(".py"):
            folder, _, file = name.rpartition("/")
            names[f"{folder}/__pycache__/{file[:-3]}.{tag}.pyc".lstrip("/")] = name
    return names


def bytecode(files: dict[str, bytes], python_version: str, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """``{archive name: .pyc}`` for the wanted ``.py`` files, at ``<dir>/__pycache__/<stem>.cpython-3XY.pyc``."""
    targets = {pyc: name for pyc, name in bytecode_names(files, python_version).items() if wanted(name)}
    names = sorted(targets.values())
    with tempfile.TemporaryDirectory(prefix="hermes-pyc-") as tmp:
        for name in names:
            (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / name).write_bytes(files[name])
        python = find_python(python_version)
        subprocess.run([python, "-I", "-c", _COMPILE, tmp], input=json.dumps(names), text=True, check=True)
        return {pyc: (Path(tmp) / f"{name}c").read_bytes() for pyc, name in targets.items()}


def layer_bytecode(name: str) -> bool:
    return not name.startswith(BYTECODE_SKIP) or name.startswith(BYTECODE_KEEP)


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


def build(out: Path, archs: list[str], runtime: str, log=print) -> dict:
    python_version = runtime.removeprefix("python")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if previous.get("python_version") != python_version:
        previous = {}  # a runtime change rebuilds every layer
    manifest: dict = {"format": 1, "python_version": python_version, "functions": {}, "layers": {}}

    functions = functions_with_bytecode(python_version)
    for name in FUNCTIONS:
        data = deterministic_zip(functions[name])
        changed = write_if_changed(out / f"{name}.zip", data)
        manifest["functions"][name] = {
            "file": f"{name}.zip",
            "handler": f"{name}.handler",
            "source_code_hash": b64sha256(data),
            "size": len(data),
        }
        log(f"{'built' if changed else 'unchanged'} {name}.zip ({len(data):,} bytes)")

    for arch in archs:
        file = out / f"layer-{arch}.zip"
        key = layer_inputs_key(arch, python_version)
        cached = previous.get("layers", {}).get(arch)
        if (
            cached
            and cached.get("inputs") == key
            and file.exists()
            and b64sha256(file.read_bytes()) == cached.get("source_code_hash")
        ):
            manifest["layers"][arch] = cached
            log(f"unchanged layer-{arch}.zip ({cached['size']:,} bytes)")
            continue
        data = deterministic_zip(layer_files(arch, python_version))
        write_if_changed(file, data)
        manifest["layers"][arch] = {
            "file": file.name,
            "source_code_hash": b64sha256(data),
            "size": len(data),
            "inputs": key,
        }
        log(f"built layer-{arch}.zip ({len(data):,} bytes)")
    # keep layers for architectures not rebuilt this time, if their files are still there
    for arch, entry in previous.get("layers", {}).items():
        if arch not in manifest["layers"] and (out / entry["file"]).exists():
            manifest["layers"][arch] = entry

    write_if_changed(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=[*PLATFORMS, "all"], default="all", help="layer architecture (default all)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="python3.12", help="Lambda runtime (default python3.12)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    args = parser.parse_args(argv)
    archs = list(PLATFORMS) if args.arch == "all" else [args.arch]
    build(args.out, archs, args.runtime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
