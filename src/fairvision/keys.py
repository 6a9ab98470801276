"""Keys of files inside a dataset (CSV `file` values, zip entries, annotation keys, S3 objects): the one rule.

Core, not part of the data stage: the params schema checks `source.attributes` with it too.
"""

from __future__ import annotations

import re

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a plain relative POSIX path that stays under its root, or None.

    The one rule for every source (CSV ``file`` values, zip entries, ``_annotations.json`` keys,
    S3 objects): no absolute path or drive letter, no ``..``/``.``/empty part, no backslash (a
    Windows separator that means something else on S3), no control character.
    """
    if not isinstance(key, str) or not key:
        return f"{key!r} is empty"
    if _CONTROL.search(key):
        return f"{key!r} contains a control character"
    if "\\" in key:
        return f"{key!r} contains a backslash; keys use forward slashes"
    if key.startswith("/") or _DRIVE.match(key):
        return f"{key!r} is an absolute path; keys are relative to the dataset folder"
    parts = key.split("/")
    if ".." in parts:
        return f"{key!r} has a '..' part, which would leave the dataset folder"
    if "." in parts or "" in parts:
        return f"{key!r} has an empty or '.' part; keys are plain relative paths"
    return None
