"""The fairvision modules a module runs: everything it imports, however deep, read from the source with ``ast``.

One reading of "a stage's code" for two uses: dvc.yaml lists each stage's closure as its code dependencies
(tests/test_dvc_deps.py compares them), and a training checkpoint is keyed by the closure's bytes, so a run
killed before a code change never resumes weights the old code trained while DVC records the new code's hash.
Imports inside functions count (the stages import their heavy modules lazily); `from a import b` counts the
module ``a.b`` when b is one.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import Iterable

PACKAGE = Path(__file__).resolve().parent  # src/fairvision in a checkout, site-packages/fairvision when installed


def module_file(name: str, package: Path = PACKAGE) -> Path | None:
    """The source file of the fairvision module ``name`` under ``package``; None for a name that is no module."""
    path = package.parent.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imported(path: Path, package: Path = PACKAGE) -> set[str]:
    """The fairvision modules the source at ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package.name:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if module_file(f"{node.module}.{alias.name}", package)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == package.name}
    return found


def closure(modules: Iterable[str], package: Path = PACKAGE) -> set[Path]:
    """The source files of ``modules`` and of everything they import, transitively."""
    seen: set[str] = set()
    files: set[Path] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        path = module_file(name, package)
        if name in seen or path is None:
            continue
        seen.add(name)
        files.add(path)
        todo.extend(imported(path, package))
    return files


def code_digest(module: str, package: Path = PACKAGE) -> str:
    """SHA-256 of the closure of ``module``: each file's path under the package and its bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(closure([module], package)):
        digest.update(path.relative_to(package).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
