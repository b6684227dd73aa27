"""Running a typer app as a console command, the same way for every mnistgen command.

Click's standalone mode prints usage errors (an unknown option, an out-of-range value) as a
multi-line boxed block; parsing in non-standalone mode lets every command report them as one
line on stderr with exit status 2, like its own errors.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import typer

try:  # recent typer vendors click; older releases depend on click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import ClickException


def one_line(prog: str, message: str) -> None:
    # one line, whatever the message contains: scripts grep stderr and people read the first line
    sys.stderr.write(f"{prog}: error: {' '.join(message.split())}\n")


def run(app: typer.Typer, prog: str, argv: Optional[list[str]] = None) -> None:
    """Parse ``argv`` (default: the process's) and run ``app``; exits with its status."""
    try:
        code = typer.main.get_command(app).main(args=argv, prog_name=prog, standalone_mode=False)
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
