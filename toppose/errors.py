"""One error policy for every toppose command, applied at the CLI boundary.

Known problems (a ``ToposeError`` or an ``OSError``) print one line, ``error: <what>``,
naming the file or option and what is wrong, and exit 1. Bad options (click's usage
errors) print one line and exit 1 too. Ctrl-C exits 130 (SIGTERM 143). Anything else is a
bug: one line naming the exception, exit 1, and the traceback only with ``--debug`` (or
``TOPPOSE_DEBUG=1``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
import traceback
from typing import Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.20 vendors click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors

DEBUG_HINT = "add --debug (or set TOPPOSE_DEBUG=1) for a traceback"


class ToposeError(ValueError):
    """A known problem with an input, option or output; the message names it."""


class ConfigError(ToposeError):
    """An option or configuration that cannot work; the message names the option."""


class OutputError(ToposeError):
    """An output that must not or cannot be written; the message names the path."""


class Interrupted(Exception):
    """A run stopped by a signal after cleaning up; exits 128 + the signal number."""

    def __init__(self, signum: int = 2) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


_ctrl_c = threading.Event()   # Ctrl-C pressed during this command (a process has one terminal)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed and Python swallowed it. Pressed while a
    finaliser ran (a ``__del__``, a weakref callback), it is printed as "Exception ignored" and the
    program goes on: a render of 100,000 frames went on after Ctrl-C. Long loops call this every
    step (``toppose-data``'s progress does)."""
    if _ctrl_c.is_set():
        raise KeyboardInterrupt


def _on_ctrl_c(signum, frame) -> None:
    _ctrl_c.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def _ctrl_c_remembered():
    """During a command: Ctrl-C is remembered for ``raise_if_interrupted``, and one that a
    finaliser swallowed prints nothing (the command stops at its next check, with one line).
    Only where Python's own handler is in place, in the main thread."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    hook = sys.unraisablehook

    def quiet(unraisable) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)

    _ctrl_c.clear()
    signal.signal(signal.SIGINT, _on_ctrl_c)
    sys.unraisablehook = quiet
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.unraisablehook = hook


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 1 (for checks inside a command)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1) from None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _worker_message(text: str) -> str | None:
    """The original message of an exception torch re-raises from a DataLoader worker."""
    if "Original Traceback" not in text:
        return None
    last = [line for line in text.strip().splitlines() if line.strip()][-1].strip()
    head, sep, rest = last.partition(": ")
    if sep and " " not in head:  # "package.module.SomeError: message"
        last = rest
    return f"{last} (in a data loader worker)"


def describe(e: BaseException) -> str:
    """One line for an exception: what went wrong, naming the file or option."""
    text = str(e)
    worker = _worker_message(text)
    if worker is not None:
        text = worker
    if isinstance(e, ToposeError):
        return _first_line(text) or type(e).__name__
    if isinstance(e, OSError):
        if e.errno == errno.ENOSPC:
            return f"{e.filename or 'output'}: no space left on device"
        if e.filename is not None:
            other = f" -> {e.filename2}" if e.filename2 else ""
            return f"{e.filename}{other}: {e.strerror or _first_line(text)}"
        return _first_line(text) or type(e).__name__
    if isinstance(e, MemoryError):
        return "out of memory"
    return f"unexpected {type(e).__name__}: {_first_line(text)} ({DEBUG_HINT})"


def _debug(args: list[str]) -> bool:
    return "--debug" in args or os.environ.get("TOPPOSE_DEBUG", "") not in ("", "0")


def _quiet_opencv() -> None:
    """OpenCV's own warnings (e.g. an unreadable image) would add lines to our one-line errors."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # for cv2 imported later and for subprocesses
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(2)  # LOG_LEVEL_ERROR


def _run(command, args, prog_name, complete_var, standalone_mode: bool, extra: dict) -> Any:
    """Run a click command under the policy; exit like a program when ``standalone_mode``."""
    args = list(sys.argv[1:] if args is None else args)
    debug = _debug(args)
    _quiet_opencv()
    args = [a for a in args if a != "--debug"]
    with _ctrl_c_remembered():
        code = _invoke(command, args, prog_name, complete_var, extra, debug)
    if not standalone_mode:
        return code
    sys.stdout.flush()
    sys.exit(code)


def _invoke(command, args, prog_name, complete_var, extra: dict, debug: bool) -> int:
    """The command under the policy -> exit code."""
    code: int = 1
    try:
        result = command._typer_main(args, prog_name, complete_var, False, **extra)
        code = result if isinstance(result, int) else 0
        if code == 130:
            typer.echo("error: interrupted", err=True)
    except click_errors.NoArgsIsHelpError as e:
        e.show()
        code = 0
    except click_errors.ClickException as e:
        typer.echo(f"error: {_first_line(e.format_message())}", err=True)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
    except Interrupted as e:
        typer.echo(f"error: {e}", err=True)
        code = 128 + e.signum
    except Exception as e:
        if debug:
            traceback.print_exc()
        typer.echo(f"error: {describe(e)}", err=True)
    return code


class BoundaryCommand(TyperCommand):
    """A typer command whose errors follow the package's policy."""

    def _typer_main(self, args, prog_name, complete_var, standalone_mode, **extra):
        return TyperCommand.main(self, args, prog_name, complete_var, standalone_mode, **extra)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        return _run(self, args, prog_name, complete_var, standalone_mode, extra)


class BoundaryGroup(TyperGroup):
    """A typer group (several subcommands) whose errors follow the package's policy."""

    def _typer_main(self, args, prog_name, complete_var, standalone_mode, **extra):
        return TyperGroup.main(self, args, prog_name, complete_var, standalone_mode, **extra)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        return _run(self, args, prog_name, complete_var, standalone_mode, extra)


class App(typer.Typer):
    """``typer.Typer`` whose commands follow the error policy (``--debug`` for tracebacks)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("add_completion", False)
        kwargs.setdefault("epilog", f"Errors are one line; {DEBUG_HINT}.")
        super().__init__(cls=BoundaryGroup, pretty_exceptions_enable=False, **kwargs)

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or BoundaryCommand, **kwargs)
