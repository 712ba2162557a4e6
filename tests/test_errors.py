"""The error policy at the CLI boundary (toppose.errors)."""

import errno

import pytest
import typer
from typer.testing import CliRunner

from toppose.data.format import DataError
from toppose.errors import App, ConfigError, Interrupted, describe

runner = CliRunner()


def _app(exc: BaseException) -> App:
    app = App()

    @app.command()
    def main(n: int = 1) -> None:
        raise exc
    return app


def test_a_known_error_is_one_line_and_exit_1():
    res = runner.invoke(_app(ConfigError("--n must be positive\nsecond line")), [])
    assert res.exit_code == 1 and res.output == "error: --n must be positive\n"


def test_an_unexpected_error_hides_its_traceback_unless_debug(monkeypatch):
    app = _app(RuntimeError("kaboom"))
    res = runner.invoke(app, [])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.strip() == "error: unexpected RuntimeError: kaboom (add --debug (or set TOPPOSE_DEBUG=1) for a traceback)"
    for args, env in (["--debug"], {}), ([], {"TOPPOSE_DEBUG": "1"}):
        res = runner.invoke(app, args, env=env)
        assert res.exit_code == 1 and "Traceback" in res.output and 'raise exc' in res.output
        assert res.output.strip().splitlines()[-1].startswith("error: unexpected RuntimeError: kaboom")


def test_usage_errors_are_one_line_exit_1():
    res = runner.invoke(_app(ConfigError("x")), ["--n", "many"])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1 and "'--n'" in res.output


@pytest.mark.parametrize("exc,code,line", [
    (KeyboardInterrupt(), 130, "error: interrupted"), (Interrupted(15), 143, "error: interrupted by signal 15"),
    (OSError(errno.ENOSPC, "No space left on device", "/d/out.json"), 1, "error: /d/out.json: no space left on device"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x"), 1, "error: /x: No such file or directory"),
    (MemoryError(), 1, "error: out of memory"), (typer.Exit(3), 3, "")])
def test_exit_codes(exc, code, line):
    res = runner.invoke(_app(exc), [])
    assert res.exit_code == code and res.output.strip() == line


def test_an_error_from_a_data_loader_worker_keeps_only_its_message():
    wrapped = DataError("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
                        '  File "x.py", line 1, in f\ntoppose.data.format.DataError: /d/a.png: missing or unreadable image\n')
    assert describe(wrapped) == "/d/a.png: missing or unreadable image (in a data loader worker)"


CTRL_C_IN_A_FINALISER = """
import os, signal, sys
from toppose.errors import App, raise_if_interrupted

app = App()


class Finalised:
    def __del__(self):          # Ctrl-C while Python runs a finaliser: Python prints it and goes on
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(3):
            pass


@app.command()
def loop(check: bool = True) -> None:
    for step in range(50):
        Finalised()
        if check:
            raise_if_interrupted()
    print("finished", step)


app()
"""


def test_ctrl_c_that_python_swallowed_in_a_finaliser_still_stops_a_checked_loop_with_one_line(tmp_path):
    import signal
    import subprocess
    import sys

    script = tmp_path / "loop.py"
    script.write_text(CTRL_C_IN_A_FINALISER)
    run = [sys.executable, str(script)]
    unchecked = subprocess.run([*run, "--no-check"], capture_output=True, text=True, timeout=120,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert unchecked.returncode == 0 and unchecked.stdout == "finished 49\n"   # what Python does alone
    checked = subprocess.run(run, capture_output=True, text=True, timeout=120,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert checked.returncode == 130 and checked.stdout == ""
    assert checked.stderr.strip().splitlines() == ["error: interrupted"]   # no "Exception ignored" traceback
