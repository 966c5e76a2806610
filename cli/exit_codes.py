"""Exit codes of every command: one table, shown in each command's ``--help`` and in docs/cli.md.

Codes 2 to 8 come from ``cli/errors.py`` (one per certsvc error family) and mean the same for
every command; 0 is success; 1 means "done, and the answer is no" and only some commands use it,
each saying what it means there. The top-level group fills every command's epilogue when it is
looked up, so commands added by any module are covered without registering them anywhere.
"""

from __future__ import annotations

from typer import _click as click
from typer.core import TyperGroup

from certsvc_cli.errors import EXIT_MEANINGS

__all__ = ["ONE_MEANS", "DocumentedGroup", "exit_code_epilog", "exit_code_lines", "walk_commands"]

# What exit 1 means, per command path. Commands not listed never exit 1 on their own.
ONE_MEANS: dict[str, str] = {
    "verify": "the licence is not valid: invalid, indeterminate, or a print copy",
    "verify-qr": "the QR code is not valid: invalid or indeterminate",
    "qr read": "no licence QR code was found in the file",
    "audit verify": "the audit chain is broken (the first changed, removed or reordered entry is named)",
    "batch import": "a row failed, or (dry run) a row is invalid",
    "batch resign": "an item failed or the job did not complete",
    "batch resume": "an item failed or the job did not complete",
    "revoke": "not confirmed: nothing was revoked",
    "cancel": "not confirmed: nothing was cancelled",
    "wait": "the service was not ready before --timeout",
}


def exit_code_lines(path: str) -> list[tuple[int, str]]:
    """(code, meaning) for the command at ``path`` (e.g. ``"batch import"``), in code order."""
    lines = [(0, "success")]
    if path in ONE_MEANS:
        lines.append((1, ONE_MEANS[path]))
    lines += sorted(EXIT_MEANINGS.items())
    return lines


def exit_code_epilog(path: str) -> str:
    """The ``--help`` epilogue; ``\\b`` keeps click from re-wrapping the lines into one paragraph."""
    return "\b\nExit codes:\n" + "\n".join(
        f"  {code}  {meaning}" for code, meaning in exit_code_lines(path)
    )


def walk_commands(group: TyperGroup, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every runnable command under ``group`` as (path, command), depth first, sorted by name."""
    found: list[tuple[str, click.Command]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        path = f"{prefix} {name}".strip()
        if isinstance(command, TyperGroup):
            if getattr(command, "invoke_without_command", False):
                found.append((path, command))
            found += walk_commands(command, path)
        else:
            found.append((path, command))
    return found


def _document(command: click.Command, path: str) -> None:
    if isinstance(command, TyperGroup):
        if getattr(command, "invoke_without_command", False) and not getattr(
            command, "_exit_codes_set", False
        ):
            command.epilog = exit_code_epilog(path)
        for name, sub in command.commands.items():
            _document(sub, f"{path} {name}")
    elif not getattr(command, "_exit_codes_set", False):
        command.epilog = (command.epilog + "\n\n" if command.epilog else "") + exit_code_epilog(
            path
        )
    command._exit_codes_set = True  # type: ignore[attr-defined]


class DocumentedGroup(TyperGroup):
    """The ``certsvc`` group: every command it hands out carries its exit codes in ``--help``."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _document(command, cmd_name)
        return command
