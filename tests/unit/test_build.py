"""build.py: deterministic per-function zips, a Linux layer per architecture, a manifest, no needless work."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402

ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}
RUNTIME_MODULES = {
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
}


# Sources and bytecode of the build's runtime (3.12): bytecode about doubles a zip. Over the 50 KB of issue 5 by
# choice: compiling the handler's modules at every cold start cost ~10 % of boto3's import (bench section 3).
# 175 KB since issue 17 (routes.py, delivery.py: every zip carries the whole runtime package, ~150 KB each);
# what a cold start pays is the modules a handler imports, not the zip's size.
FUNCTION_ZIP_LIMIT = 175_000
TOKEN_ZIP_EXTRA = 30_000  # the SDK's core (sdk.py, token_service.py, their bytecode): ~29 KB in issue 21


def build_python() -> str | None:
    try:
        return build.find_python("3.12")
    except SystemExit:
        return None


@pytest.fixture(scope="session")
def builds(tmp_path_factory):
    """Two independent builds of everything, into separate folders."""
    first, second = tmp_path_factory.mktemp("build1"), tmp_path_factory.mktemp("build2")
    return (
        build.build(first, ["x86_64", "arm64"], "python3.12", log=lambda *_: None),
        first,
        build.build(second, ["x86_64", "arm64"], "python3.12", log=lambda *_: None),
        second,
    )


def test_two_builds_are_byte_identical(builds):
    manifest1, out1, manifest2, out2 = builds
    assert manifest1 == manifest2
    for path in out1.iterdir():
        assert path.read_bytes() == (out2 / path.name).read_bytes(), path.name


def test_manifest_hashes_are_base64_sha256_of_the_files(builds):
    manifest, out, *_ = builds
    entries = list(manifest["functions"].values()) + list(manifest["layers"].values())
    assert len(entries) == 8  # six functions, two layers
    for entry in entries:
        data = (out / entry["file"]).read_bytes()
        assert entry["source_code_hash"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert entry["size"] == len(data)
    assert manifest["functions"]["send_message"]["handler"] == "send_message.handler"
    assert manifest["functions"]["client_routes"]["handler"] == "client_routes.handler"


def test_committed_dist_is_what_the_sources_build(builds):
    """dist/ is the release bundle consumers get through git; it must match the sources."""
    manifest, *_ = builds
    committed = json.loads((ROOT / "dist" / "manifest.json").read_text())
    assert committed == manifest, "run `python build.py` and commit dist/"


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_layer_holds_linux_wheels_for_its_architecture_and_no_boto3(builds, arch):
    manifest, out, *_ = builds
    with zipfile.ZipFile(out / manifest["layers"][arch]["file"]) as layer:
        names = layer.namelist()
        (so_name,) = [n for n in names if n.startswith("python/bcrypt/") and n.endswith(".so")]
        elf = layer.read(so_name)
    assert elf[:4] == b"\x7fELF"
    assert int.from_bytes(elf[18:20], "little") == ELF_MACHINE[arch]
    assert all(n.startswith("python/") for n in names)
    tops = {n.split("/")[1] for n in names}
    assert {"jwt", "bcrypt", "aws_lambda_powertools"} <= tops
    assert not {t for t in tops if t.startswith(("boto3", "botocore"))}
    # bytecode for the build's runtime (3.12) only, beside its source, for the parts the handlers import
    pycs = {n for n in names if n.endswith(".pyc")}
    assert pycs and pycs <= set(build.bytecode_names(dict.fromkeys(names), "3.12"))
    assert "python/jwt/__pycache__/api_jwt.cpython-312.pyc" in pycs
    assert "python/aws_lambda_powertools/logging/__pycache__/logger.cpython-312.pyc" in pycs
    assert not [n for n in pycs if "/event_handler/" in n]


def test_function_zips_hold_only_their_handler_and_the_runtime_package(builds):
    manifest, out, *_ = builds
    for name, entry in manifest["functions"].items():
        with zipfile.ZipFile(out / entry["file"]) as archive:
            infos = archive.infolist()
        names = {i.filename for i in infos}
        # the token function alone also ships the SDK's core (it issues and revokes as the SDK does)
        modules = RUNTIME_MODULES | ({"sdk.py", "token_service.py"} if name == "tokens" else set())
        sources = {f"{name}.py"} | {f"hermes_notifications/{m}" for m in modules}
        pycs = {f"__pycache__/{name}.cpython-312.pyc"}
        pycs |= {f"hermes_notifications/__pycache__/{m[:-3]}.cpython-312.pyc" for m in modules}
        assert names == sources | pycs, name
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        assert entry["size"] <= FUNCTION_ZIP_LIMIT + (TOKEN_ZIP_EXTRA if name == "tokens" else 0)


def python_version_of(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(not build_python(), reason="no Python 3.12 here to check the bytecode against")
def test_every_pyc_is_the_runtime_pythons_bytecode_of_its_source(builds):
    """Magic number of the runtime's minor version (else the runtime ignores the file and compiles), hash-based
    and unchecked (no mtime in it: builds are reproducible), and the hash of the very source beside it."""
    manifest, out, *_ = builds
    files = {}
    for entry in [*manifest["functions"].values(), *manifest["layers"].values()]:
        with zipfile.ZipFile(out / entry["file"]) as archive:
            files[entry["file"]] = {n: archive.read(n) for n in archive.namelist()}
    probe = "\n".join(
        [
            "import importlib.util, json, sys",
            "checked = 0",
            "for archive, files in json.load(sys.stdin).items():",
            "    for name, (pyc, source) in files.items():",
            "        pyc, source = bytes.fromhex(pyc), bytes.fromhex(source)",
            "        assert pyc[:4] == importlib.util.MAGIC_NUMBER, (archive, name)",
            "        assert int.from_bytes(pyc[4:8], 'little') == 0b01, (archive, name)  # hash-based, unchecked",
            "        assert pyc[8:16] == importlib.util.source_hash(source), (archive, name)",
            "        checked += 1",
            "print(checked)",
        ]
    )
    payload = {}
    for archive, content in files.items():
        pairs = build.bytecode_names(content, "3.12")
        if archive.endswith(".zip") and not archive.startswith("layer-"):
            assert set(pairs) <= set(content) and len(pairs) == len([n for n in content if n.endswith(".py")])
        payload[archive] = {
            pyc: (content[pyc].hex(), content[src].hex()) for pyc, src in pairs.items() if pyc in content
        }
    result = subprocess.run(
        [build_python(), "-I", "-c", probe], input=json.dumps(payload), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == sum(len(v) for v in payload.values()) > 100


def test_rebuild_with_nothing_changed_rewrites_nothing_and_skips_pip(builds, monkeypatch):
    manifest, out, *_ = builds
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    monkeypatch.setattr(build, "layer_files", lambda *a: pytest.fail("the layer was rebuilt"))
    lines = []
    assert build.build(out, ["x86_64", "arm64"], "python3.12", log=lines.append) == manifest
    assert all(line.startswith("unchanged") for line in lines)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def test_a_source_change_changes_only_the_affected_hashes(builds, tmp_path, monkeypatch):
    manifest, out, *_ = builds
    functions = tmp_path / "functions"
    functions.mkdir()
    for name in build.FUNCTIONS:
        (functions / f"{name}.py").write_bytes((build.FUNCTIONS_DIR / f"{name}.py").read_bytes())
    (functions / "connect.py").write_text((functions / "connect.py").read_text() + "\n# changed\n")
    monkeypatch.setattr(build, "FUNCTIONS_DIR", functions)
    target = tmp_path / "dist"
    target.mkdir()
    for path in out.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    changed = build.build(target, ["x86_64", "arm64"], "python3.12", log=lambda *_: None)
    differ = {
        n
        for n in build.FUNCTIONS
        if changed["functions"][n]["source_code_hash"] != manifest["functions"][n]["source_code_hash"]
    }
    assert differ == {"connect"}
    assert changed["layers"] == manifest["layers"]


def lambda_pythons() -> list[str]:
    """Interpreters matching the Lambda runtimes (pyenv on our machines), else the host's."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = [str(p) for minor in ("3.12", "3.13") for p in sorted(root.glob(f"{minor}.*/bin/python"))[-1:]]
    return found or [sys.executable]


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="imports the x86_64 layer's native bcrypt")
@pytest.mark.parametrize("python", lambda_pythons())
def test_built_artifacts_run_on_their_own(builds, tmp_path, python):
    """Unpack each function zip with the layer as Lambda does, under the runtime's Python, and run it.

    boto3 is taken from the host (the Lambda runtime provides it); everything else must come from the
    zip or the layer, so a module missing from a zip or a dependency missing from the layer fails here.
    """
    manifest, out, *_ = builds
    layer_dir = tmp_path / "opt"
    zipfile.ZipFile(out / "layer-x86_64.zip").extractall(layer_dir)
    boto3_home = Path(__import__("boto3").__file__).parents[1]
    for name in manifest["functions"]:
        fn_dir = tmp_path / name
        zipfile.ZipFile(out / f"{name}.zip").extractall(fn_dir)
        code = "\n".join(
            [
                "import json, types",
                f"import {name} as fn, hermes_notifications, jwt, bcrypt",
                f"assert hermes_notifications.__file__.startswith({str(fn_dir)!r}), hermes_notifications.__file__",
                f"assert jwt.__file__.startswith({str(layer_dir)!r}), jwt.__file__",
                "ctx = types.SimpleNamespace(function_name='f', memory_limit_in_mb=128, invoked_function_arn='arn:f',"
                " aws_request_id='r', get_remaining_time_in_millis=lambda: 10_000)",
                "if hasattr(fn, 'authorize'):",
                "    r = fn.handler({'methodArn': 'arn:x', 'queryStringParameters': {'token': 'bad'}}, ctx)",
                "    print(json.dumps(r))",
                # every module the handler loaded from the zip or the layer: did it find shipped bytecode?
                "import os, sys",
                f"ours = ({str(fn_dir)!r}, {str(layer_dir)!r})",
                "files = {n: getattr(m, '__file__', None) or '' for n, m in list(sys.modules.items())}",
                "loaded = [n for n, f in files.items() if f.startswith(ours) and f.endswith('.py')]",
                "missing = [n for n in loaded if not os.path.exists(sys.modules[n].__cached__)]",
                "print('BYTECODE', json.dumps({'loaded': len(loaded), 'missing': missing}))",
            ]
        )
        env = {
            **os.environ,
            "PYTHONPATH": f"{fn_dir}:{layer_dir / 'python'}:{boto3_home}",
            "PYTHONNOUSERSITE": "1",
            "HERMES_TOKENS_TABLE": "t",
            "HERMES_CONNECTIONS_TABLE": "c",
            "HERMES_JWT_SECRET_SOURCE": "env",
            "HERMES_JWT_SECRET": "k" * 64,
            "POWERTOOLS_SERVICE_NAME": "hermes-test",
            "PYTHONDONTWRITEBYTECODE": "1",  # /var/task and /opt are read-only: only shipped bytecode counts
        }
        result = subprocess.run([python, "-s", "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, f"{name} under {python}: {result.stderr}"
        lines = result.stdout.strip().splitlines()
        imported = json.loads(lines[-1].removeprefix("BYTECODE "))
        if python_version_of(python) == "3.12":  # the build's runtime: nothing compiled at the cold start
            assert imported["loaded"] > 10 and imported["missing"] == [], name
        else:  # another runtime ignores the 3.12 bytecode and compiles the sources, as before
            assert imported["missing"], name
        if name == "authorizer":
            response = json.loads(lines[-2])
            assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
            # the light JSON logger, as Lambda runs it: one JSON line with the invocation's fields
            (log,) = [json.loads(line) for line in lines if line.startswith('{"level"')]
            assert log["message"] == "connect deny" and log["reason"].startswith("invalid token")
            assert log["function_request_id"] == "r" and log["cold_start"] is True
            assert log["service"] == "hermes-test" and log["level"] == "INFO"
