"""Reading licence records from CSV or XLSX and checking each row as an issue request.

Rows are streamed (``csv`` over a text stream, openpyxl in read-only mode), so memory does not
grow with the file; only the problems found and the record numbers seen (to catch duplicates)
are kept. Row numbers are the ones a spreadsheet shows: the header is row 1.

Columns are matched to the template's fields by the field key or its Chinese label (the header
row of a department's own spreadsheet), or by an explicit mapping ``{"header": "field key"}``.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from certsvc.config import Settings
from certsvc.domain.identifiers import HolderIdType, is_valid_resident_id, validate_holder_id
from certsvc.errors import BadRequestError, CertsvcError, ValidationFailedError
from certsvc.jobs.api import ItemOutcome, WorkItem
from certsvc.rendering.templates import FieldType, LicenceTemplate
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.issuance import IssuanceService
from certsvc.services.issuance_rules import (
    refuse_ended_validity,
    require_holder_kind,
    resolve_valid_until,
)
from certsvc.services.principals import Principal, Role
from certsvc.services.requests import parse_issue_request
from certsvc.storage.database import Database
from certsvc.storage.repositories import CertificateRepository

__all__ = [
    "BUILTIN_COLUMNS",
    "ColumnMap",
    "ImportHandler",
    "ImportReport",
    "ImportRow",
    "RowProblem",
    "build_import_handler",
    "check_rows",
    "import_idempotency_key",
    "read_table",
    "resolve_columns",
]

# The request envelope's columns and the header texts they are known by in departments' sheets.
BUILTIN_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "record_no": ("记录号", "原记录号", "原证照编号", "档案号"),
    "holder_name": ("持证主体名称", "持证主体", "持证人", "持证人姓名"),
    "holder_id_type": ("持证主体代码类型", "证件类型"),
    "holder_id": (
        "持证主体代码",
        "统一社会信用代码",
        "公民身份号码",
        "身份证号码",
        "居民身份证号码",
    ),
    "valid_from": ("有效期起", "有效期自", "有效期开始日期"),
    "valid_until": ("有效期至", "有效期止", "有效期截止日期"),
}
_REQUIRED_BUILTINS = ("record_no", "holder_name", "holder_id", "valid_from", "valid_until")
_ID_TYPES = {
    "uscc": HolderIdType.USCC,
    "统一社会信用代码": HolderIdType.USCC,
    "resident_id": HolderIdType.RESIDENT_ID,
    "居民身份证": HolderIdType.RESIDENT_ID,
    "居民身份证号码": HolderIdType.RESIDENT_ID,
    "身份证": HolderIdType.RESIDENT_ID,
    "公民身份号码": HolderIdType.RESIDENT_ID,
}
_DATE_RE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")
# Problems kept for one report; a file that is wrong in every row says so long before this.
_MAX_PROBLEMS = 10_000
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int  # as a spreadsheet numbers it: header = 1
    record_no: str
    field: str  # field key ("holder_id", "valid_from", "licence_number" ...)
    column: str  # the header text in the file, "" when the problem is not one column's
    problem: str


@dataclass(frozen=True, slots=True)
class ImportRow:
    row: int
    record_no: str
    request: dict[str, Any] | None  # the issue request (API body shape); None when invalid
    problems: tuple[RowProblem, ...]


@dataclass
class ImportReport:
    """What a dry run found; also the planning summary of an executed import."""

    template: str
    department_code: str
    total_rows: int = 0
    valid_rows: int = 0
    invalid_rows: int = 0
    already_issued: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    problems_truncated: bool = False
    columns: dict[str, str] = field(default_factory=dict)  # header → field key


@dataclass(frozen=True)
class ColumnMap:
    """Header position → field key, and the header text of each key (for reports)."""

    by_index: Mapping[int, str]
    header_of: Mapping[str, str]


def import_idempotency_key(template: str, record_no: str) -> str:
    """The licence's idempotency key: a rerun of an import finds rows already issued by it."""
    return f"batch-import:{template}:{record_no}"[:200]


def _norm(text: str) -> str:
    # NFKC folds full-width brackets and ㎡ the way people type them in either form.
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def read_table(path: Path, *, filename: str | None = None) -> Iterator[list[object]]:
    """Rows of a CSV (UTF-8, UTF-8 with BOM or GB18030) or XLSX file, header first.

    Raises:
        BadRequestError: not a readable CSV or XLSX file.
    """
    name = (filename or path.name).lower()
    if name.endswith((".xlsx", ".xlsm")):
        yield from _read_xlsx(path)
    elif name.endswith((".csv", ".txt")):
        yield from _read_csv(path)
    else:
        raise BadRequestError("the import file must be .csv or .xlsx", code="unsupported_file_type")


def _read_csv(path: Path) -> Iterator[list[object]]:
    with path.open("rb") as raw:
        head = raw.read(_SNIFF_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        # Spreadsheets saved as CSV on Chinese Windows are GBK; GB18030 is its superset.
        encoding = "gb18030"
    try:
        with path.open("r", encoding=encoding, newline="") as fh:
            yield from csv.reader(fh)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadRequestError(
            f"the CSV file cannot be read: {exc}", code="unreadable_file"
        ) from exc


def _read_xlsx(path: Path) -> Iterator[list[object]]:
    try:
        from openpyxl import load_workbook  # optional at import time: only XLSX needs it

        workbook = load_workbook(path, read_only=True, data_only=True)
    except ImportError as exc:
        raise BadRequestError(
            "XLSX import needs openpyxl: pip install openpyxl", code="unsupported_file_type"
        ) from exc
    except Exception as exc:  # openpyxl raises zipfile, KeyError, InvalidFileException ...
        raise BadRequestError("the XLSX file cannot be read", code="unreadable_file") from exc
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield list(values)
    finally:
        workbook.close()


def resolve_columns(
    header: list[object], template: LicenceTemplate, mapping: Mapping[str, str] | None
) -> ColumnMap:
    """Match header cells to builtin columns and template fields.

    Raises:
        ValidationFailedError: unknown or repeated columns, missing required ones, or a mapping
            that names something the template does not have.
    """
    known: dict[str, str] = {}
    for key, labels in BUILTIN_COLUMNS.items():
        known[_norm(key)] = key
        for label in labels:
            known[_norm(label)] = key
    for spec in template.fields:
        known[_norm(spec.key)] = spec.key
        known[_norm(spec.label)] = spec.key
    valid_keys = set(BUILTIN_COLUMNS) | {spec.key for spec in template.fields}
    explicit = {_norm(h): k for h, k in (mapping or {}).items()}
    problems: list[dict[str, str]] = []
    for header_text, key in (mapping or {}).items():
        if key not in valid_keys:
            problems.append(
                {
                    "field": header_text,
                    "problem": f"the mapping names {key!r}, which {template.name} does not have",
                }
            )
    by_index: dict[int, str] = {}
    header_of: dict[str, str] = {}
    for index, cell in enumerate(header):
        text = "" if cell is None else str(cell).strip()
        if not text:
            continue
        found = explicit.get(_norm(text)) or known.get(_norm(text))
        if found is None:
            problems.append(
                {
                    "field": text,
                    "problem": "unknown column: not a field of the template (give a mapping file)",
                }
            )
            continue
        key = found
        if key in header_of:
            problems.append(
                {
                    "field": text,
                    "problem": f"column for {key} given twice ({header_of[key]!r} and {text!r})",
                }
            )
            continue
        by_index[index] = key
        header_of[key] = text
    for key in _REQUIRED_BUILTINS:
        if key not in header_of:
            problems.append(
                {
                    "field": key,
                    "problem": f"required column missing ({' / '.join(BUILTIN_COLUMNS[key])})",
                }
            )
    for spec in template.fields:
        if spec.required and spec.key not in header_of:
            problems.append(
                {"field": spec.key, "problem": f"required column missing ({spec.label})"}
            )
    if problems:
        raise ValidationFailedError("the header row does not match the template", details=problems)
    return ColumnMap(by_index=by_index, header_of=header_of)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 12 as 12.0
    return str(value).strip()


def _iso_date(text: str) -> str:
    match = _DATE_RE.match(text)
    if match is None:
        return text
    year, month, day = (int(g) for g in match.groups())
    return f"{year:04d}-{month:02d}-{day:02d}"


def _to_value(spec_type: FieldType, text: str) -> object:
    if spec_type is FieldType.TABLE:
        # A table's rows travel as JSON in one cell: [{"column": "value"}, ...]
        return json.loads(text) if text else None
    if spec_type is FieldType.DATE:
        return _iso_date(text)
    return text


def check_rows(
    rows: Iterator[list[object]],
    template: LicenceTemplate,
    columns: ColumnMap,
    *,
    first_row: int = 2,
    today: date | None = None,
) -> Iterator[ImportRow]:
    """Check each data row; yields one :class:`ImportRow` per non-empty row.

    With ``today``, a row whose validity ended before it is reported (issuance refuses it).
    """
    specs = template.field_map
    seen: dict[str, int] = {}
    numbers_seen: dict[str, int] = {}  # 许可证编号 → first row: one licence per number
    for row_number, cells in enumerate(rows, start=first_row):
        values = {
            key: _cell_text(cells[i]) if i < len(cells) else ""
            for i, key in columns.by_index.items()
        }
        if not any(values.values()):
            continue  # blank lines at the end of a sheet
        record_no = values.get("record_no", "")
        problems: list[RowProblem] = []

        def problem(
            key: str,
            text: str,
            *,
            row: int = row_number,
            rec: str = record_no,
            sink: list[RowProblem] = problems,
        ) -> None:
            sink.append(RowProblem(row, rec, key, columns.header_of.get(key, ""), text))

        if not record_no:
            problem("record_no", "the record number is missing")
        elif record_no in seen:
            problem(
                "record_no", f"duplicate record number {record_no}: also in row {seen[record_no]}"
            )
        else:
            seen[record_no] = row_number

        id_type_text = values.get("holder_id_type", "")
        holder_id = values.get("holder_id", "").upper()
        if id_type_text:
            id_type = _ID_TYPES.get(id_type_text.lower()) or _ID_TYPES.get(id_type_text)
            if id_type is None:
                problem(
                    "holder_id_type",
                    f"unknown holder id type {id_type_text!r} (统一社会信用代码 or 居民身份证)",
                )
                id_type = HolderIdType.USCC
        else:
            # Without the column: an 18-character number that passes GB 11643 is a person.
            id_type = (
                HolderIdType.RESIDENT_ID if is_valid_resident_id(holder_id) else HolderIdType.USCC
            )
        if holder_id:
            try:
                holder_id = validate_holder_id(id_type, holder_id)
            except CertsvcError as exc:
                problem("holder_id", exc.message)
            try:
                require_holder_kind(template, id_type)
            except CertsvcError as exc:
                problem("holder_id_type", exc.message)

        dates: dict[str, str] = {}
        for key in ("valid_from", "valid_until"):
            text = _iso_date(values.get(key, ""))
            try:
                date.fromisoformat(text)
                dates[key] = text
            except ValueError:
                problem(
                    key, f"not a date (YYYY-MM-DD): {text!r}" if text else "the date is missing"
                )
        if "valid_from" in dates and "valid_until" in dates:
            try:
                resolve_valid_until(
                    template,
                    date.fromisoformat(dates["valid_from"]),
                    date.fromisoformat(dates["valid_until"]),
                )
            except ValidationFailedError as exc:
                problem("valid_until", exc.message)
        if today is not None and "valid_until" in dates:
            try:
                refuse_ended_validity(date.fromisoformat(dates["valid_until"]), today=today)
            except ValidationFailedError as exc:
                problem("valid_until", exc.message)

        fields: dict[str, object] = {}
        for key, text in values.items():
            spec = specs.get(key)
            if spec is None or not text:
                continue
            try:
                fields[key] = _to_value(spec.type, text)
            except ValueError:
                problem(key, f"{spec.label} must be a JSON list of rows")
        number = fields.get(template.number_field) if template.number_field else None
        if isinstance(number, str) and number:
            if number in numbers_seen:
                problem(
                    template.number_field or "",
                    f"duplicate licence number {number}: also in row {numbers_seen[number]}",
                )
            else:
                numbers_seen[number] = row_number
        try:
            template.validate_fields(fields)
        except ValidationFailedError as exc:
            for item in exc.details or []:
                name = str(item.get("field", ""))
                problem(
                    name.split("[", 1)[0].split(".", 1)[0],
                    f"{item.get('problem', '')}" + (f" ({name})" if "[" in name else ""),
                )

        request: dict[str, Any] = {
            "template": template.slug,
            "holder": {
                "name": values.get("holder_name", ""),
                "id_type": id_type.value,
                "id": holder_id,
            },
            "fields": fields,
            "valid_from": dates.get("valid_from", ""),
            "valid_until": dates.get("valid_until", ""),
        }
        if not problems:
            try:
                request = parse_issue_request(request).model_dump(mode="json")
            except ValidationFailedError as exc:
                for item in exc.details or []:
                    name = str(item.get("field", ""))
                    key = {
                        "holder.name": "holder_name",
                        "holder.id": "holder_id",
                        "body": "valid_until",
                    }.get(name, name)
                    problem(key, str(item.get("problem", "")))
        yield ImportRow(row_number, record_no, None if problems else request, tuple(problems))


class ImportHandler:
    """Item handler of import jobs: issues one licence per valid row, once.

    The licence carries the idempotency key ``batch-import:<template>:<record no>``, so a row
    whose licence exists (issued by this job before a crash, or by an earlier import) is never
    issued twice: before a crash it counts as done, from an earlier import as skipped.
    """

    def __init__(
        self, ctx: ServiceContext, *, job_id: int, params: Mapping[str, Any], owns_context: bool
    ) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.template = str(params["template"])
        self.department_id = int(params["department_id"])
        self.job_created_at = datetime.fromisoformat(str(params["created_at"]))
        # The operator acts for the department named in the job; the audit log names both.
        self.principal = Principal(
            client_id=int(params.get("actor_client_id") or 0),
            name=f"{params.get('actor_name') or 'operator'} (batch {job_id})"[:100],
            role=Role.ISSUER,
            department_id=self.department_id,
            department_code=str(params["department_code"]),
            operator=_operator_of(params, job_id),
        )
        self._owns_context = owns_context

    @property
    def database(self) -> Database:
        return self.ctx.database

    def close(self) -> None:
        if self._owns_context:
            self.ctx.database.dispose()

    def handle(self, item: WorkItem) -> ItemOutcome:
        """Issue the licence of one row.

        Raises:
            ValidationFailedError, InvalidHolderIdError: the row does not make a valid request.
            ConflictError, KeyUnavailableError, SigningError: as ``IssuanceService.issue``.
        """
        key = import_idempotency_key(self.template, item.key)
        # A read (no write lock): issuing with the same idempotency key settles any race anyway.
        with self.ctx.database.read() as session:
            existing = CertificateRepository(session).by_idempotency_key(self.department_id, key)
            if existing is not None:
                found = {"identifier": existing.identifier, "record_no": item.key}
                if existing.issued_at >= self.job_created_at:
                    return ItemOutcome.done(found)  # issued by this job before an interruption
                return ItemOutcome.skipped("already_issued", found)
        request = parse_issue_request(item.payload["request"])
        issued = IssuanceService(self.ctx).issue(
            request,
            principal=self.principal,
            idempotency_key=key,
            request_id=f"batch-{self.job_id}",
        )
        return ItemOutcome.done(
            {"identifier": issued.identifier, "sha256": issued.sha256, "record_no": item.key}
        )


def build_import_handler(config: Mapping[str, Any]) -> ImportHandler:
    """Task factory (``TaskSpec``): a handler with its own context, built in a worker process."""
    settings = config["settings"]
    assert isinstance(settings, Settings)
    ctx = build_context(settings, migrate=False)
    return ImportHandler(
        ctx, job_id=int(config["job_id"]), params=config["params"], owns_context=True
    )


def _operator_of(params: Mapping[str, Any], job_id: int) -> str | None:
    """The CLI operator who created the job, named with the job in the audit log."""
    name = params.get("actor_operator")
    return f"{name} (batch {job_id})"[:90] if name else None
