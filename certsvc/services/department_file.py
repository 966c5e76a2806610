"""The departments file of bulk seal provisioning (电子印章应发尽发), read and checked.

One row per department, header first (CSV or XLSX):

    code, name, name_mn, name_mn_source, level, parent, area_code, seal_kinds[, algorithm]

(Chinese headers work too: 统一社会信用代码, 名称, 蒙古文名称, 蒙古文名称来源, 层级, 上级, 行政区划代码,
印章种类, 算法; ``name_mn``, ``name_mn_source`` and ``algorithm`` may be left out).
``level`` is 盟, 旗县, 苏木乡镇 or 嘎查村; ``parent`` the 统一社会信用代码 of the department one
level up (in the file or registered already; empty for the top); ``seal_kinds`` the seals to make,
separated by ``;``, ``；`` or ``、`` (公章;行政许可专用章); ``name_mn`` only a spelling attested in
a public Mongolian-language source, named in ``name_mn_source`` (a row with a Mongolian name and no
source is refused: a translation made for the file is not an attested spelling), else both empty.
Every problem names its row and column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from certsvc.crypto import api as crypto
from certsvc.domain.identifiers import is_valid_uscc
from certsvc.errors import ValidationFailedError
from certsvc.services.batch_import import read_table
from certsvc.services.bilingual import mongolian_name

__all__ = ["DepartmentLevel", "DepartmentRow", "read_department_file"]

_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "统一社会信用代码"),
    "name": ("name", "名称"),
    "name_mn": ("name_mn", "蒙古文名称"),
    "name_mn_source": ("name_mn_source", "蒙古文名称来源"),
    "level": ("level", "层级"),
    "parent": ("parent", "上级"),
    "area_code": ("area_code", "行政区划代码"),
    "seal_kinds": ("seal_kinds", "印章种类"),
    "algorithm": ("algorithm", "算法"),
}
_OPTIONAL = frozenset({"name_mn", "name_mn_source", "algorithm"})
_SPLIT = re.compile(r"[;；、]")
_MAX_ROWS = 20_000


class DepartmentLevel(StrEnum):
    """Levels of government in a 盟 of 内蒙古, top down."""

    LEAGUE = "盟"
    BANNER_COUNTY = "旗县"
    SUMU_TOWNSHIP = "苏木乡镇"
    GACHA_VILLAGE = "嘎查村"

    @property
    def rank(self) -> int:
        return list(DepartmentLevel).index(self)


@dataclass(frozen=True, slots=True)
class DepartmentRow:
    row: int  # in the file, header = 1
    code: str
    name: str
    name_mn: str | None
    name_mn_source: str | None  # where the Mongolian spelling is published
    level: DepartmentLevel
    parent: str | None
    area_code: str
    seal_kinds: tuple[str, ...]
    algorithm: str

    def payload(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "name_mn": self.name_mn,
            "name_mn_source": self.name_mn_source,
            "level": self.level.value,
            "parent": self.parent,
            "area_code": self.area_code,
            "seal_kinds": list(self.seal_kinds),
            "algorithm": self.algorithm,
        }

    @classmethod
    def of(cls, row: int, payload: dict[str, Any]) -> DepartmentRow:
        return cls(
            row,
            str(payload["code"]),
            str(payload["name"]),
            payload.get("name_mn"),
            payload.get("name_mn_source"),
            DepartmentLevel(payload["level"]),
            payload.get("parent"),
            str(payload["area_code"]),
            tuple(payload["seal_kinds"]),
            str(payload["algorithm"]),
        )


def read_department_file(
    path: Path, *, known_levels: dict[str, DepartmentLevel | None], filename: str | None = None
) -> list[DepartmentRow]:
    """Every row, checked; ``known_levels`` gives the registered departments (code → level or None).

    Raises:
        BadRequestError: not a readable CSV or XLSX file.
        ValidationFailedError: missing columns or bad rows; each problem has ``row`` and ``column``.
    """
    rows = read_table(path, filename=filename)
    header = next(rows, None)
    if header is None:
        raise ValidationFailedError(
            "the file is empty", details=[{"row": 1, "column": None, "problem": "no header row"}]
        )
    names = [str(h or "").strip().lstrip("\ufeff") for h in header]
    index: dict[str, int] = {}
    problems: list[dict[str, Any]] = []
    for key, aliases in _COLUMNS.items():
        found = [i for i, n in enumerate(names) if n in aliases]
        if found:
            index[key] = found[0]
        elif key not in _OPTIONAL:
            problems.append(
                {"row": 1, "column": key, "problem": f"missing column ({' or '.join(aliases)})"}
            )
    if problems:
        raise ValidationFailedError("the departments file lacks columns", details=problems)
    parsed = list(_rows(rows, index, problems))
    levels: dict[str, DepartmentLevel | None] = dict(known_levels)
    seen: dict[str, int] = {}
    for r in parsed:
        if r.code in seen:
            problems.append(
                {
                    "row": r.row,
                    "column": "code",
                    "problem": f"{r.code} is also in row {seen[r.code]}",
                }
            )
        seen[r.code] = r.row
        levels[r.code] = r.level
    for r in parsed:
        if r.parent is None:
            continue
        if r.parent == r.code:
            problems.append(
                {"row": r.row, "column": "parent", "problem": "a department is not its own parent"}
            )
        elif r.parent not in levels:
            problems.append(
                {
                    "row": r.row,
                    "column": "parent",
                    "problem": f"{r.parent} is neither in the file nor registered",
                }
            )
        else:
            parent_level = levels[r.parent]
            if parent_level is not None and parent_level.rank >= r.level.rank:
                problems.append(
                    {
                        "row": r.row,
                        "column": "parent",
                        "problem": f"the parent is a {parent_level.value} department, not above a {r.level.value} one",
                    }
                )
    if problems:
        raise ValidationFailedError(
            f"{len(problems)} problem(s) in the departments file", details=problems[:1000]
        )
    if not parsed:
        raise ValidationFailedError(
            "the departments file has no rows",
            details=[{"row": 2, "column": None, "problem": "no rows"}],
        )
    return parsed


def _rows(
    rows: Iterator[list[object]], index: dict[str, int], problems: list[dict[str, Any]]
) -> Iterator[DepartmentRow]:
    algorithms = {a.value for a in crypto.KeyAlgorithm}
    for number, raw in enumerate(rows, start=2):
        cells = [str(c).strip() if c is not None else "" for c in raw]
        if not any(cells):
            continue
        if number > _MAX_ROWS + 1:
            problems.append(
                {
                    "row": number,
                    "column": None,
                    "problem": f"at most {_MAX_ROWS} departments per file",
                }
            )
            return

        def cell(key: str, cells: list[str] = cells) -> str:
            i = index.get(key)
            return cells[i] if i is not None and i < len(cells) else ""

        found: list[dict[str, Any]] = []

        def bad(
            key: str, problem: str, number: int = number, found: list[dict[str, Any]] = found
        ) -> None:
            found.append({"row": number, "column": key, "problem": problem})

        code = cell("code").upper()
        if not is_valid_uscc(code):
            bad("code", "not a valid 统一社会信用代码")
        name = cell("name")
        if not 0 < len(name) <= 100:
            bad("name", "1 to 100 characters")
        name_mn, mn_problems = mongolian_name("name_mn", cell("name_mn") or None)
        for p in mn_problems:
            bad("name_mn", p["problem"])
        source = cell("name_mn_source") or None
        if name_mn is not None and source is None:
            bad(
                "name_mn_source",
                "a Mongolian name needs the public source that attests its spelling",
            )
        elif source is not None and (name_mn is None or len(source) > 300):
            bad(
                "name_mn_source",
                "a source only goes with a Mongolian name (at most 300 characters)",
            )
        try:
            level = DepartmentLevel(cell("level"))
        except ValueError:
            bad("level", f"one of {', '.join(v.value for v in DepartmentLevel)}")
            level = DepartmentLevel.GACHA_VILLAGE
        parent = cell("parent").upper() or None
        if parent is not None and not is_valid_uscc(parent):
            bad("parent", "not a valid 统一社会信用代码")
        area = cell("area_code")
        if not (len(area) == 6 and area.isdigit()):
            bad("area_code", "a 6-digit GB/T 2260 code")
        kinds = tuple(
            dict.fromkeys(k.strip() for k in _SPLIT.split(cell("seal_kinds")) if k.strip())
        )
        if not kinds:
            bad("seal_kinds", "at least one seal kind (公章, 行政许可专用章 …)")
        for kind in kinds:
            if len(kind) > 100:
                bad("seal_kinds", f"seal kind {kind[:20]!r}… is longer than 100 characters")
        algorithm = cell("algorithm").lower() or crypto.KeyAlgorithm.SM2.value
        if algorithm not in algorithms:
            bad("algorithm", f"one of {', '.join(sorted(algorithms))}")
        if found:
            problems.extend(found)
            continue
        yield DepartmentRow(
            number, code, name, name_mn, source, level, parent, area, kinds, algorithm
        )
