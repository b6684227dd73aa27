"""Running a typer app as a console command, the same way for every mnistgen command.

Click's standalone mode prints usage errors (an unknown option, an out-of-range value) as a
multi-line boxed block; parsing in non-standalone mode lets every command report them as one
line on stderr with exit status 2, like its own errors. Every error of every command, usage
or its own, reads ``PROG: error: MESSAGE`` (``one_line``), and every command takes ``--version``.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Optional

import typer
import typer.core

try:  # recent typer vendors click; older releases depend on click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import ClickException


def one_line(prog: str, message: str) -> None:
    # one line, whatever the message contains: scripts grep stderr and people read the first line
    sys.stderr.write(f"{prog}: error: {' '.join(message.split())}\n")


def fail(prog: str, message: str, code: int = 2) -> typer.Exit:
    """Report ``message`` as the command's one error line; ``raise fail(...) from None`` ends the command."""
    one_line(prog, message)
    return typer.Exit(code)


def number(text: Optional[str], kind: Callable[[str], Any]) -> Any:
    """A numeric option's text read as ``kind`` (int or float), as click's own type would read it,
    or else the text itself: the command's check then refuses it in the command's words, naming
    the option and the range it accepts, instead of click's "is not a valid integer"."""
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        return text


def version() -> str:
    """The installed package's version (what pip and the wheel say), not a copy kept in the code."""
    from importlib import metadata  # deferred: its imports slow every cold start, and only --version needs them

    try:
        return metadata.version("mnistgen")
    except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown (not installed)"


def _version_option(about: Optional[Callable[[], str]]) -> typer.core.TyperOption:
    def print_version(ctx: Any, _param: Any, wanted: bool) -> None:
        if wanted and not ctx.resilient_parsing:
            suffix = f" ({about()})" if about is not None else ""
            sys.stdout.write(f"{ctx.info_name} {version()}{suffix}\n")
            ctx.exit()

    # eager: answered before any other option or required argument is checked, as --help is
    return typer.core.TyperOption(
        param_decls=["--version"], is_flag=True, expose_value=False, is_eager=True,
        callback=print_version, help="Print the mnistgen version and exit.",
    )


def run(
    app: typer.Typer, prog: str, argv: Optional[list[str]] = None, about: Optional[Callable[[], str]] = None
) -> None:
    """Parse ``argv`` (default: the process's) and run ``app``; exits with its status.

    ``about`` adds to the ``--version`` line, in brackets after the version: what else the
    command's output depends on (for ``mnistgen``, the model that draws).
    """
    command = typer.main.get_command(app)
    command.params.append(_version_option(about))  # a fresh command object per call: nothing shared is changed
    try:
        code = command.main(args=argv, prog_name=prog, standalone_mode=False)
    except ClickException as exc:
        one_line(prog, f"{exc.format_message()} (see {prog} --help)")
        code = exc.exit_code
    except typer.Abort:
        code = 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): nothing useful left to say, and pointing stdout
        # at devnull stops Python's exit-time flush from printing its own traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
