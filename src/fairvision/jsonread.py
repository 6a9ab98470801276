"""Reading JSON outputs back: every error names the file and the dotted key at fault.

Core: the readers of fairness.json (``audit.record``) and explanations.json
(``explain.record``) walk their files with the same ``JsonReader``, without the explanations
depending on the audit's code. Standard library only.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Iterable

from fairvision.errors import FairvisionError
from fairvision.files import strict_json


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A value with its interval; any of the three is None where the audit found it undefined."""

    value: float | None
    low: float | None
    high: float | None

    def as_json(self) -> dict[str, Any]:
        """The audit's own form, ``{"value", "ci": [low, high]}``, so card.json reads like fairness.json."""
        return {"value": self.value, "ci": [self.low, self.high]}


def read_json(path: Path, keys: Iterable[str]) -> dict[str, Any]:
    """Parse a JSON object and check it has ``keys``; NaN/Infinity are rejected since they are not JSON."""
    try:
        data = strict_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FairvisionError(f"{path}: not found; run the stage that writes it first") from None
    except (OSError, UnicodeDecodeError) as error:
        raise FairvisionError(f"{path}: cannot read: {error}") from None
    except ValueError as error:
        raise FairvisionError(f"{path}: not valid JSON: {error}") from None
    require_keys(data, keys, path, "")
    return data


class JsonReader:
    """Walks one parsed JSON file; every error names the file and the dotted key at fault.

    Each stage output's reader subclasses it (fairness.json here, explanations.json in
    ``fairvision.explain.record``), so every one checks keys, lists and words the same way.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def mapping(self, data: Any, where: str, keys: Iterable[str] = ()) -> dict[str, Any]:
        require_keys(data, keys, self.source, where)
        return data

    def sequence(self, data: dict[str, Any], key: str, where: str = "") -> list[Any]:
        value = data[key]
        if not isinstance(value, list):
            raise FairvisionError(f"{self.source}: `{f'{where}.' if where else ''}{key}` must be a JSON list")
        return value

    def word(self, value: Any, allowed: tuple[str, ...], where: str) -> Any:
        if value not in allowed:
            raise FairvisionError(f"{self.source}: `{where}` must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def estimate(self, data: Any, where: str) -> Estimate:
        data = self.mapping(data, where, ("value", "ci"))
        ci = data["ci"]
        if not (isinstance(ci, list) and len(ci) == 2):
            raise FairvisionError(f"{self.source}: `{where}.ci` must be a [low, high] pair, got {ci!r}")
        return Estimate(value=self.number(data["value"], f"{where}.value", nullable=True),
                        low=self.number(ci[0], f"{where}.ci[0]", nullable=True),
                        high=self.number(ci[1], f"{where}.ci[1]", nullable=True))

    def number(self, value: Any, where: str, *, nullable: bool = False) -> Any:
        """A finite JSON number (or null where ``nullable``); a string, NaN or Infinity names the key."""
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise FairvisionError(f"{self.source}: `{where}` must be a finite number{' or null' if nullable else ''}, "
                                  f"got {value!r}")
        return value

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise FairvisionError(f"{self.source}: `{where}` must be true or false, got {value!r}")
        return value


def require_keys(data: Any, keys: Iterable[str], source: str | Path, where: str) -> None:
    if not isinstance(data, dict):
        raise FairvisionError(f"{source}: `{where or 'top level'}` must be a JSON object")
    missing = [key for key in keys if key not in data]
    if missing:
        names = ", ".join(f"`{where}.{key}`" if where else f"`{key}`" for key in missing)
        raise FairvisionError(f"{source}: missing {names}")
