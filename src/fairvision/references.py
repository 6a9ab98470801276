"""`references.json`: each partition's reference group as the audit chose it, beside fairness.json.

The explanations compare every group with the audit's reference group and need nothing else
of the audit: depending on this small file instead of fairness.json, they rerun only when a
reference changes, not when an interval or a verdict does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from fairvision.errors import FairvisionError
from fairvision.files import strict_json, write_json

REFERENCES_FILE = "references.json"


def write_references(path: str | os.PathLike[str], references: Mapping[str, str]) -> None:
    """Write partition name -> reference group (atomically)."""
    write_json(path, {"references": dict(references)})


def read_references(path: str | os.PathLike[str]) -> dict[str, str]:
    """Partition name -> reference group; a FairvisionError naming the file for anything else."""
    path = Path(path)
    try:
        data = strict_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FairvisionError(f"{path}: not found; run `fairvision audit` first") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise FairvisionError(f"{path}: not a references file ({error}); rerun `fairvision audit`") from None
    references = data.get("references") if isinstance(data, dict) else None
    if not isinstance(references, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in references.items()):
        raise FairvisionError(f"{path}: `references` must map each partition to its reference group; "
                              "rerun `fairvision audit`")
    return references
