"""Options before or after the command name: ``rpa --json robots`` = ``rpa robots
--json``, ``rpa run lab_results --project DIR`` = ``rpa --project DIR run ...``.

Click gives an option to the command it is written after: a group's option after
the command name is refused ("No such option"), and one the command also has
written before its name is taken by the group, which does not act on it. So, before
click parses a group's arguments, :class:`OptionsAnywhere` moves each option to
the one that has it: an option written before the command name that the command
has goes after the name; one written after the name that only the group has goes
before it. Values stay with their options; ``--`` ends the moving.
"""

from collections.abc import Callable, Iterable
from typing import Any

import typer
from typer.core import TyperGroup, TyperOption

__all__ = ["OptionsAnywhere", "only_without_command"]


class OptionsAnywhere(TyperGroup):
    """A command group whose options, and its commands', go before or after names."""

    # ctx: typer's click Context (typer.Context is a subclass)
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._arranged(ctx, list(args)))

    def _arranged(self, ctx: Any, args: list[str]) -> list[str]:
        mine = _takes_value(self.params)
        at = _command_at(args, mine)
        if at is None:
            return args
        try:
            _, command, _ = self.resolve_command(ctx, args[at:])
        except typer.TyperException:
            return args  # click names the unknown command itself
        if command is None:
            return args
        theirs = _takes_value(command.params)
        kept, moved = _split(args[:at], lambda key: key in theirs, mine | theirs)
        after = args[at + 1 :]
        end = after.index("--") if "--" in after else len(after)
        stay, back = _split(
            after[:end], lambda key: key in mine and key not in theirs, mine | theirs
        )
        return [*kept, *back, args[at], *moved, *stay, *after[end:]]


def only_without_command(ctx: typer.Context, command: str) -> None:
    """In a listing group's callback: refuse its options given with a subcommand.

    ``rpa runs --robot X show RUN`` would otherwise ignore ``--robot`` silently.
    """
    if ctx.invoked_subcommand is None or not isinstance(ctx.command, TyperGroup):
        return
    sub = ctx.command.get_command(ctx, ctx.invoked_subcommand)
    theirs = _takes_value(sub.params) if sub is not None else {}
    for param in ctx.command.params:
        given = param.name and ctx.get_parameter_source(param.name)
        if given and given.name == "COMMANDLINE" and param.opts[0] not in theirs:
            raise typer.BadParameter(
                f"applies to `{command}` alone, not to `{command} "
                f"{ctx.invoked_subcommand}`",
                ctx=ctx,
                param_hint=f"'{param.opts[0]}'",
            )


def _takes_value(params: Iterable[Any]) -> dict[str, bool]:
    """Each option string (``--json``, ``-p``) → whether a value follows it."""
    found: dict[str, bool] = {}
    for param in params:
        if isinstance(param, TyperOption):
            value = not (param.is_flag or param.count)
            found |= dict.fromkeys([*param.opts, *param.secondary_opts], value)
    return found


def _key(arg: str) -> str:
    return arg.split("=", 1)[0]


def _is_option(arg: str) -> bool:
    return arg.startswith("-") and arg != "-"


def _width(arg: str, options: dict[str, bool]) -> int:
    """How many arguments ``arg`` spans: an option with its separate value is two."""
    takes = _is_option(arg) and options.get(_key(arg), False)
    return 2 if takes and "=" not in arg else 1


def _command_at(args: list[str], options: dict[str, bool]) -> int | None:
    """The index of the command name: the first argument that is no option's."""
    index = 0
    while index < len(args):
        if args[index] == "--":
            return None
        if not _is_option(args[index]):
            return index
        index += _width(args[index], options)
    return None


def _split(
    args: list[str], wanted: Callable[[str], bool], options: dict[str, bool]
) -> tuple[list[str], list[str]]:
    """``args`` as (left, taken): each option ``wanted(key)`` picks, with its value."""
    left: list[str] = []
    taken: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        width = _width(arg, options)
        chunk = args[index : index + width]
        (taken if _is_option(arg) and wanted(_key(arg)) else left).extend(chunk)
        index += width
    return left, taken
