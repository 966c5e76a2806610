"""The CLI's one table from certsvc errors to exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from certsvc import errors as e

__all__ = ["EXIT_BY_ERROR", "EXIT_MEANINGS", "exit_code_for", "handle_errors"]

# `certsvc verify` uses 0 = valid, 1 = invalid or indeterminate, 2 = could not evaluate; every
# other command keeps 1 for "the operation reported failure" and these codes for errors.
EXIT_BY_ERROR: tuple[tuple[type[e.CertsvcError], int], ...] = (
    (e.BadRequestError, 2),
    (e.NotFoundError, 3),
    (e.ConflictError, 4),
    (e.AuthenticationError, 5),
    (e.PermissionDeniedError, 5),
    (e.KeyUnavailableError, 6),
    (e.TimeStampUnavailableError, 6),
    (e.ConfigurationError, 7),
    (e.CertsvcError, 8),
)

# What each error exit code means, for `--help` and docs/cli.md (cli/exit_codes.py). A usage
# error found by the option parser (unknown option, missing argument) is exit 2 as well.
EXIT_MEANINGS: dict[int, str] = {
    2: "bad input: a wrong option or argument, an unreadable file, a request the rules refuse",
    3: "not found: no such licence, department, seal, client or job",
    4: "conflict: the current state does not allow it (illegal_transition, duplicate_licence_number ...)",
    5: "not allowed: authentication or permission refused",
    6: "a key or the time-stamp authority is unavailable",
    7: "configuration problem (CERTSVC_* settings)",
    8: "any other certsvc error (the message names its code)",
}

P = ParamSpec("P")
R = TypeVar("R")


def exit_code_for(exc: e.CertsvcError) -> int:
    return next(code for cls, code in EXIT_BY_ERROR if isinstance(exc, cls))


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a certsvc error into a one-line message on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except e.CertsvcError as exc:
            typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
            if isinstance(exc.details, list):
                for item in exc.details:
                    if (
                        isinstance(item, dict) and "row" in item
                    ):  # a file's bad row names row and column
                        where = f"row {item['row']}" + (
                            f", column {item['column']}" if item.get("column") else ""
                        )
                        typer.echo(f"  - {where}: {item.get('problem', '')}", err=True)
                    elif isinstance(item, dict) and "field" in item:
                        typer.echo(f"  - {item['field']}: {item.get('problem', '')}", err=True)
            sys.exit(exit_code_for(exc))

    return wrapper
