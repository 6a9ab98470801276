"""Write requirements-elyra.lock: what the `elyra` extra adds on top of requirements.lock, pinned and hashed.

Elyra brings the JupyterLab stack (143 packages), which neither `make demo` nor the image needs, so it has a
lock of its own that `make test` installs after the main one. It is compiled with requirements.lock as
constraints, so no package the main lock pins moves (pyproject.toml's `[tool.uv]` overrides let click and
psutil keep the main lock's versions), and it keeps only the packages the main lock lacks.

    .venv/bin/python scripts/lock_elyra.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN, OUT = ROOT / "requirements.lock", ROOT / "requirements-elyra.lock"
COMPILE = ("uv", "pip", "compile", "pyproject.toml", "--extra", "test", "--extra", "elyra", "-p", "3.11",
           "--generate-hashes", "-c", "requirements.lock", "--no-header", "--quiet")
# One pinned package of uv's output: `name==version \`, its hash lines, then its `# via` comments.
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==.*?(?=^[A-Za-z0-9]|\Z)", re.M | re.S)


def pinned(text: str) -> dict[str, str]:
    """Each package of a compiled lock, by its normalised name, with its entry's text."""
    return {re.sub(r"[-_.]+", "-", m["name"]).lower(): m[0] for m in ENTRY.finditer(text)}


def main() -> None:
    uv = Path(sys.executable).with_name("uv")
    with tempfile.TemporaryDirectory() as folder:
        full = Path(folder) / "full.txt"
        subprocess.run([str(uv), *COMPILE[1:], "-o", str(full)], cwd=ROOT, check=True)
        entries = pinned(full.read_text(encoding="utf-8"))
    main_lock = pinned(MAIN.read_text(encoding="utf-8"))
    added = [entry for name, entry in entries.items() if name not in main_lock]
    header = ("# What the `elyra` extra adds on top of requirements.lock (install that first), written by\n"
              "#    .venv/bin/python scripts/lock_elyra.py\n"
              f"# from: {' '.join(COMPILE)}\n")
    OUT.write_text(header + "".join(added), encoding="utf-8")
    print(f"{OUT.name}: {len(added)} packages on top of {MAIN.name}'s {len(main_lock)}")


if __name__ == "__main__":
    main()
