"""Who runs the CLI: the operator named in the audit log (the OS user, or ``--operator``).

The CLI acts with the deployment's own keys, so it needs no API key; the audit log still names
the person behind each change. Nothing heavy is imported here: ``certsvc --help`` must stay fast.
"""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING

from certsvc.errors import BadRequestError

if TYPE_CHECKING:
    from certsvc.services.context import ServiceContext
    from certsvc.services.principals import Principal

__all__ = ["current_operator", "issuer_principal", "operator_principal", "set_operator"]

_MAX_NAME = 60  # the audit actor column holds 100 characters, "operator:" included
_state: dict[str, str | None] = {"name": None}


def set_operator(name: str | None) -> None:
    """Record ``--operator`` (or ``CERTSVC_OPERATOR``); None falls back to the OS user."""
    if name is not None:
        cleaned = name.strip()
        if not cleaned or len(cleaned) > _MAX_NAME or not cleaned.isprintable():
            raise BadRequestError(
                f"--operator must be 1 to {_MAX_NAME} printable characters", code="invalid_operator"
            )
        name = cleaned
    _state["name"] = name


def current_operator() -> str:
    """The name the audit log records: ``--operator``, else the OS login of whoever runs the CLI."""
    name = _state["name"]
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no LOGNAME
        return f"uid-{os.getuid()}"


def operator_principal() -> Principal:
    """The operator, acting across departments (administration, batch work, statistics)."""
    from certsvc.services.principals import Principal, Role

    return Principal(
        client_id=0,
        name="cli",
        role=Role.OPERATOR,
        department_id=None,
        department_code=None,
        operator=current_operator(),
    )


def issuer_principal(ctx: ServiceContext, department_code: str) -> Principal:
    """The operator issuing for one department (``certsvc issue``)."""
    from certsvc.services.principals import Principal, Role
    from certsvc.services.provisioning import department_by_code

    with ctx.database.transaction() as session:
        department = department_by_code(session, department_code)
        return Principal(
            client_id=0,
            name="cli",
            role=Role.ISSUER,
            department_id=department.id,
            department_code=department_code,
            operator=current_operator(),
        )
