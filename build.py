#!/usr/bin/env python3
"""Build the Lambda artifacts: one zip per function and one shared dependency layer per architecture.

    python build.py [--arch x86_64|arm64|all] [--runtime python3.12] [--out dist]

Deterministic: the same sources give byte-identical zips (sorted entries, fixed timestamps and
permissions), so Terraform's ``source_code_hash`` changes only when code does. ``manifest.json``
lists every artifact with its base64 SHA-256. Re-running with nothing changed rewrites nothing: the
layer is rebuilt only when its pinned requirements, architecture or Python version change.
Uses only the standard library and pip.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "lambda_src"
FUNCTIONS_DIR = SRC / "functions"
PACKAGE_DIR = SRC / "hermes_notifications"
LAYER_REQUIREMENTS = SRC / "layer-requirements.txt"

FUNCTIONS = ("authorizer", "connect", "disconnect", "send_message")
# The modules of the hermes_notifications package that run on Lambda (an allowlist: the SDK and CLI in the
# same package never ship in a function zip, nor does anything added later until it is listed here).
RUNTIME_MODULES = (
    "__init__.py",
    "batching.py",
    "config.py",
    "dispatch.py",
    "envelope.py",
    "errors.py",
    "fanout.py",
    "history.py",
    "ids.py",
    "lambda_logging.py",
    "presence.py",
    "poster.py",
    "signing_keys.py",
    "store.py",
    "tokens.py",
)
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
RUNTIMES = ("python3.12", "python3.13")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
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
    files = {f"hermes_notifications/{module}": (PACKAGE_DIR / module).read_bytes() for module in RUNTIME_MODULES}
    files[f"{name}.py"] = (FUNCTIONS_DIR / f"{name}.py").read_bytes()
    return files


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
        return tree_files(target, "python/")


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

    for name in FUNCTIONS:
        data = deterministic_zip(function_files(name))
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
