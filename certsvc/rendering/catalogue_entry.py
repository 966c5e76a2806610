"""A licence type's catalogue facts (GB/T 36902 目录信息): ``templates/<slug>/catalogue.json``.

The template says how a licence looks; ``catalogue.json`` says what the type is for the
catalogue: who defines it (证照定义机构; its code is the first 18 characters of the type code,
GB/T 36904), whose licence it is (持证主体类型) and how long one is valid. Like the template it is
checked at start-up, every problem listed with the file named.

```json
{"definer_name": "国家市场监督管理总局", "holder_kinds": ["uscc"],
 "validity": {"kind": "term", "years": 5, "basis": "《食品经营许可和备案管理办法》"}}
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from certsvc.domain.identifiers import HolderIdType
from certsvc.errors import ConfigurationError

__all__ = [
    "CATALOGUE_FILE",
    "CatalogueEntry",
    "ValidityKind",
    "ValidityRule",
    "load_catalogue_entry",
]

CATALOGUE_FILE = "catalogue.json"


class ValidityKind(StrEnum):
    TERM = "term"  # a fixed number of years from issue (食品经营许可证: 5 years)
    LONG_TERM = "long_term"  # 长期: no end
    PER_LICENCE = "per_licence"  # the issuing department sets it for each licence


@dataclass(frozen=True, slots=True)
class ValidityRule:
    kind: ValidityKind
    years: int | None = None  # only for TERM: the usual term, given when a request names no end
    basis: str = ""  # the rule it comes from, as the operator wrote it
    # Only for TERM: the longest term the rule allows when it differs from the usual one
    # (取水许可证: 一般为5年，最长不超过10年); None = ``years`` is also the longest.
    max_years: int | None = None

    @property
    def longest_years(self) -> int | None:
        return self.max_years if self.max_years is not None else self.years


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    definer_name: str  # 证照定义机构
    holder_kinds: tuple[
        HolderIdType, ...
    ]  # 持证主体类型: USCC (GB/T 36903 code 001), resident id (111)
    validity: ValidityRule


def load_catalogue_entry(directory: Path) -> CatalogueEntry | None:
    """The folder's catalogue facts, or None when it has no ``catalogue.json``.

    Raises:
        ConfigurationError: naming the file and every problem in it.
    """
    path = directory / CATALOGUE_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: must be a JSON object")
    problems: list[str] = []
    for prop in raw:
        if prop not in ("definer_name", "holder_kinds", "validity"):
            problems.append(f"unknown property {prop!r}")
    definer = raw.get("definer_name")
    if not (isinstance(definer, str) and 0 < len(definer.strip()) <= 100):
        problems.append("definer_name (证照定义机构, 1 to 100 characters) is required")
        definer = ""
    kinds = _holder_kinds(raw.get("holder_kinds"), problems)
    validity = _validity(raw.get("validity"), problems)
    if problems:
        raise ConfigurationError(
            f"{path}: " + "; ".join(problems),
            details=[{"file": str(path), "problem": p} for p in problems],
        )
    return CatalogueEntry(definer_name=str(definer).strip(), holder_kinds=kinds, validity=validity)


def _holder_kinds(value: Any, problems: list[str]) -> tuple[HolderIdType, ...]:
    known = {k.value for k in HolderIdType}
    if not (
        isinstance(value, list) and value and all(isinstance(v, str) and v in known for v in value)
    ):
        problems.append(f"holder_kinds must be a non-empty list of {sorted(known)}")
        return ()
    return tuple(HolderIdType(v) for v in dict.fromkeys(value))


def _validity(value: Any, problems: list[str]) -> ValidityRule:
    if not isinstance(value, dict):
        problems.append("validity must be an object with a kind")
        return ValidityRule(ValidityKind.PER_LICENCE)
    for prop in value:
        if prop not in ("kind", "years", "max_years", "basis"):
            problems.append(f"validity: unknown property {prop!r}")
    try:
        kind = ValidityKind(str(value.get("kind")))
    except ValueError:
        problems.append(f"validity.kind must be one of {[k.value for k in ValidityKind]}")
        return ValidityRule(ValidityKind.PER_LICENCE)
    years = value.get("years")
    if kind is ValidityKind.TERM:
        if not (isinstance(years, int) and not isinstance(years, bool) and 1 <= years <= 50):
            problems.append("validity.years (1 to 50) is required for a term")
            years = None
    elif years is not None:
        problems.append(f"validity.years only goes with kind term, not {kind.value}")
        years = None
    max_years = value.get("max_years")
    if max_years is not None:
        if kind is not ValidityKind.TERM:
            problems.append(f"validity.max_years only goes with kind term, not {kind.value}")
            max_years = None
        elif not (
            isinstance(max_years, int)
            and not isinstance(max_years, bool)
            and isinstance(years, int)
        ):
            problems.append("validity.max_years must be a whole number of years")
            max_years = None
        elif not years <= max_years <= 50:
            problems.append(f"validity.max_years must be between years ({years}) and 50")
            max_years = None
    basis = value.get("basis", "")
    if not (isinstance(basis, str) and len(basis) <= 200):
        problems.append("validity.basis must be text of at most 200 characters")
        basis = ""
    return ValidityRule(kind, years, basis, max_years)
