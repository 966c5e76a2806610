"""The rules a registry keeps whenever a licence version is made (issue, amend, reissue, import).

Each rule is one function called inside the caller's transaction, so issuance, the lifecycle
and batch work apply the same rule the same way:

- a licence whose validity period has already ended is not issued (``refuse_ended_validity``);
- a licence's period keeps its catalogue entry's validity rule, which also supplies a missing
  end (``resolve_valid_until``);
- a department issues only the licence types configured for it (``require_licence_type``);
- a licence is held by the kind of holder its catalogue entry names (``require_holder_kind``);
- a 许可证编号 is held by one licence per department and type (``require_number_free``); the
  unique index ``uq_certificates_licence_number`` settles races, ``duplicate_number_error``
  names the holder afterwards;
- the seal is chosen explicitly (``choose_seal``): the seal of the template's purpose, else the
  department's default seal; adding a seal never changes which one signs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from certsvc.domain.identifiers import HolderIdType
from certsvc.errors import ConflictError, PermissionDeniedError, ValidationFailedError
from certsvc.rendering.catalogue_entry import ValidityKind
from certsvc.rendering.templates import LicenceTemplate
from certsvc.storage.orm import Seal
from certsvc.storage.repositories_rules import (
    LicenceNumberRepository,
    LicenceTypeRepository,
    SealChoiceRepository,
)

__all__ = [
    "choose_seal",
    "duplicate_number_error",
    "licence_number_of",
    "refuse_ended_validity",
    "require_holder_kind",
    "require_licence_type",
    "require_number_free",
    "resolve_valid_until",
    "term_last_day",
]

# The end date that stands for 长期 (no end): the OFD metadata prints it as 长期 and no clock
# ever passes it.
LONG_TERM_END = date(9999, 12, 31)


def term_last_day(valid_from: date, years: int) -> date:
    """The last day of a term of ``years`` starting on ``valid_from``: the day before its anniversary.

    2026-03-15 + 5 years ends on 2031-03-14 (the samples' 有效期自2026年3月15日至2031年3月14日). A term
    starting on 29 February has its anniversary on 1 March of a common year, so it ends on 28 February.
    """
    try:
        anniversary = valid_from.replace(year=valid_from.year + years)
    except ValueError:
        anniversary = date(valid_from.year + years, 3, 1)
    return anniversary - timedelta(days=1)


def resolve_valid_until(
    template: LicenceTemplate, valid_from: date, valid_until: date | None
) -> date:
    """The licence's last day under its catalogue entry's validity rule.

    - ``term`` (N years): at most the last day of the longest term the rule allows (``years``,
      or ``max_years`` where the rule names a longer ceiling; ``term_last_day``); a shorter period
      is allowed (a department may grant less, e.g. up to the end of a lease); no end given = the
      usual term of ``years``.
    - ``long_term`` (长期): the end is ``9999-12-31``, given or not; a dated end is refused.
    - ``per_licence`` (the department decides) and templates without a catalogue entry: the end
      must be given; any end is kept.

    Raises:
        ValidationFailedError: ``validity_exceeds_term`` (extension ``latest_valid_until``),
            ``validity_must_be_long_term``, ``valid_until_required``.
    """
    rule = template.catalogue.validity if template.catalogue is not None else None
    if rule is not None and rule.kind is ValidityKind.TERM and rule.years is not None:
        if valid_until is None:
            return term_last_day(valid_from, rule.years)
        longest = rule.longest_years or rule.years
        last = term_last_day(valid_from, longest)
        if valid_until > last:
            raise ValidationFailedError(
                f"{template.name} is valid for at most {longest} years ({rule.basis}): from "
                f"{valid_from.isoformat()} the last day is {last.isoformat()}, not {valid_until.isoformat()}",
                code="validity_exceeds_term",
                details=[{"field": "valid_until", "problem": f"after {last.isoformat()}"}],
                extensions={"latest_valid_until": last.isoformat()},
            )
        return valid_until
    if rule is not None and rule.kind is ValidityKind.LONG_TERM:
        if valid_until is not None and valid_until != LONG_TERM_END:
            raise ValidationFailedError(
                f"{template.name} is valid without end (长期, {rule.basis}); leave valid_until out or give "
                f"{LONG_TERM_END.isoformat()}",
                code="validity_must_be_long_term",
                details=[
                    {
                        "field": "valid_until",
                        "problem": f"must be {LONG_TERM_END.isoformat()} (长期) or left out",
                    }
                ],
            )
        return LONG_TERM_END
    if valid_until is None:
        raise ValidationFailedError(
            f"{template.name}'s issuing department sets each licence's period: valid_until is required",
            code="valid_until_required",
            details=[{"field": "valid_until", "problem": "required for this licence type"}],
        )
    return valid_until


def refuse_ended_validity(valid_until: date, *, today: date) -> None:
    """A licence past its last day would be born expired: refuse it rather than register it.

    ``today`` must be the date ``effective_status`` uses, so that what is refused here is exactly
    what every reader would call expired.

    Raises:
        ValidationFailedError: code ``validity_already_ended``.
    """
    if valid_until < today:
        raise ValidationFailedError(
            f"the validity period ended on {valid_until.isoformat()}; an expired licence cannot be issued",
            code="validity_already_ended",
            details=[{"field": "valid_until", "problem": f"before today ({today.isoformat()})"}],
        )


def require_licence_type(
    session: Session, *, department_id: int, department_code: str, template: LicenceTemplate
) -> None:
    """Raises: PermissionDeniedError: code ``licence_type_not_allowed``."""
    if not LicenceTypeRepository(session).is_allowed(department_id, template.slug):
        raise PermissionDeniedError(
            f"department {department_code} is not configured to issue {template.name} ({template.slug}); "
            f"an operator can allow it: certsvc department types {department_code} --add {template.slug}",
            code="licence_type_not_allowed",
            details=[
                {
                    "field": "template",
                    "problem": f"{template.slug} is not one of the department's licence types",
                }
            ],
        )


def require_holder_kind(template: LicenceTemplate, holder_type: HolderIdType) -> None:
    """A 食品经营许可证 is an organisation's, a 特种作业操作资格证 a person's: the catalogue says which.

    A template without a catalogue entry accepts either kind.

    Raises:
        ValidationFailedError: code ``holder_kind_not_allowed``.
    """
    if template.catalogue is None or holder_type in template.catalogue.holder_kinds:
        return
    allowed = ", ".join(k.value for k in template.catalogue.holder_kinds)
    raise ValidationFailedError(
        f"{template.name} is held by {allowed}, not {holder_type.value} (docs/region.md, the licence catalogue)",
        code="holder_kind_not_allowed",
        details=[{"field": "holder.id_type", "problem": f"one of {allowed}"}],
    )


def licence_number_of(template: LicenceTemplate, fields: Mapping[str, object]) -> str | None:
    """The licence's printed number (the template's number field), or None when it has none."""
    if template.number_field is None:
        return None
    number = fields.get(template.number_field)
    return number if isinstance(number, str) and number else None


def duplicate_number_error(number: str, existing_identifier: str) -> ConflictError:
    """The refusal of a number another licence holds; it names that licence for the caller."""
    return ConflictError(
        f"许可证编号 {number} is already held by licence {existing_identifier}; "
        "change that licence with amend or reissue instead of issuing it again",
        code="duplicate_licence_number",
        extensions={"existing_identifier": existing_identifier},
    )


def require_number_free(
    session: Session,
    *,
    department_id: int,
    template: LicenceTemplate,
    number: str | None,
    holder_id: int | None = None,
) -> None:
    """Refuse a number held by another licence of the department and type.

    ``holder_id`` is the licence being amended, which may keep its own number.

    Raises:
        ConflictError: code ``duplicate_licence_number``, extension ``existing_identifier``.
    """
    if number is None:
        return
    existing = LicenceNumberRepository(session).holder(department_id, template.type_code, number)
    if existing is not None and existing.id != holder_id:
        raise duplicate_number_error(number, existing.identifier)


def choose_seal(
    session: Session, *, department_id: int, template: LicenceTemplate, at: datetime
) -> Seal:
    """The seal that signs ``template`` for the department at ``at``.

    A template naming a seal purpose gets the department's seal of that purpose (its default
    seal when that has the purpose, else the oldest usable one, so a newer seal of the same
    purpose does not take over). Otherwise the department's default seal signs.

    Raises:
        ConflictError: ``no_seal_for_purpose``, ``no_active_seal`` (no default seal) or
            ``default_seal_unusable`` (the default is retired or outside its validity).
    """
    choices = SealChoiceRepository(session)
    default = choices.default_of(department_id)
    if template.seal_purpose is not None:
        usable = choices.usable_with_purpose(department_id, template.seal_purpose, at)
        if not usable:
            raise ConflictError(
                f"{template.name} is sealed with a {template.seal_purpose}, and the department has no usable seal "
                "of that purpose",
                code="no_seal_for_purpose",
                details={"purpose": template.seal_purpose},
            )
        return next((s for s in usable if default is not None and s.id == default.id), usable[0])
    if default is None:
        raise ConflictError(
            "the department has no default seal to issue with", code="no_active_seal"
        )
    if default.status != "active" or not default.valid_from <= at < default.valid_until:
        raise ConflictError(
            f"the department's default seal {default.id} ({default.name}) is {default.status if default.status != 'active' else 'outside its validity'}; "
            "choose another with certsvc seal default",
            code="default_seal_unusable",
            details={"seal_id": default.id},
        )
    return default
