"""Shared checks of the bad-input corpus (tests/test_bad_input*.py).

Each case runs a command the way a user would and asserts the error policy: the exit code, one
``error:`` line naming the culprit, no traceback, and no file created, changed or removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import json
import pickle

import onnx
import pytest
import torch
from onnx import TensorProto, helper
from typer.testing import CliRunner

from toppose.model_spec import ModelSpec
from toppose.networks import build_network
from toppose.runtime.stream import bundled_model
from toppose.skeleton import SKELETONS
from toppose.weights import CHECKPOINT_FORMAT, save_checkpoint

runner = CliRunner()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root`` -> (size, mtime in ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


def check(app, args: list, culprit: str, *roots: Path, code: int = 1, env: dict | None = None):
    """Run ``app`` with ``args``; assert the policy, with ``culprit`` in the one error line.

    Nothing under ``roots`` may be created, changed or removed.
    """
    before = [snapshot(r) for r in roots]
    res = runner.invoke(app, [str(a) for a in args], env=env)
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert res.exit_code == code, res.output[-2000:]
    assert len(errors) == 1 and culprit in errors[0], res.output[-2000:]
    assert "Traceback" not in res.output, res.output[-2000:]
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    for root, snap in zip(roots, before):
        after = snapshot(root)
        assert after == snap, f"files changed: {sorted(set(after.items()) ^ set(snap.items()))}"
    return res


def default_sigint() -> None:
    """For subprocesses: Ctrl-C as a terminal delivers it (a shell's background job ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(script: str, args: list, **kw) -> subprocess.CompletedProcess:
    """A console script of this environment as a subprocess."""
    exe = Path(sys.executable).parent / script
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=300, **kw)


def interrupt(script: str, args: list, ready, sig: int = signal.SIGINT, wait: float = 120, timeout: float = 60,
              stderr=subprocess.PIPE) -> tuple[int, str | None]:
    """Start a console script of this environment, wait (up to ``wait`` s) until ``ready()``, then send ``sig``.

    Ctrl-C is delivered as a terminal would (``default_sigint``). Returns (exit code, stderr).
    """
    exe = Path(sys.executable).parent / script
    proc = subprocess.Popen([str(exe), *map(str, args)], stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                            preexec_fn=default_sigint)
    deadline = time.time() + wait
    while time.time() < deadline and not ready():
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@contextlib.contextmanager
def mounted(size: str = "64k", read_only: bool = False):
    """A small tmpfs (full after ``size``), or a read-only one; skips where mounting is not allowed."""
    where = Path(tempfile.mkdtemp(prefix="toppose_tmpfs_"))
    options = f"size={size}" + (",ro" if read_only else "")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if res.returncode != 0:
        where.rmdir()
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
        where.rmdir()


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/toppose_corpus_pwned",))


def make_weights(ws: Path) -> None:
    """Good, corrupt, truncated, NaN/inf, mislabelled and hostile weight files in ``ws``."""
    spec = ModelSpec(arch="lite")
    torch.manual_seed(0)
    model = build_network(spec)
    save_checkpoint(ws / "ok.pth", model, spec)
    state = model.state_dict()
    bad = {k: v.clone() for k, v in state.items()}
    bad["refine.pafs.1.0.weight"][0, 0, 0, 0] = float("nan")
    save_checkpoint(ws / "nan.pth", model, spec)
    obj = torch.load(ws / "nan.pth", weights_only=True)
    obj["state_dict"] = bad
    torch.save(obj, ws / "nan.pth")
    inf = {k: v.clone() for k, v in state.items()}
    inf["backbone.0.0.weight"][0] = float("inf")
    torch.save(inf, ws / "inf.pth")
    (ws / "text.pth").write_text("these are not weights\n")
    (ws / "empty.pth").write_bytes(b"")
    data = (ws / "ok.pth").read_bytes()
    (ws / "truncated.pth").write_bytes(data[: len(data) // 2])
    torch.save([1, 2, 3], ws / "list.pth")
    torch.save({"state_dict": [1, 2]}, ws / "sdlist.pth")
    torch.save({"format": CHECKPOINT_FORMAT, "state_dict": state}, ws / "nospec.pth")
    torch.save({"format": CHECKPOINT_FORMAT, "spec": {"arch": 5, "skeleton": 3}, "state_dict": state}, ws / "badspec.pth")
    torch.save(torch.nn.Linear(2, 2).state_dict(), ws / "linear.pth")
    with open(ws / "evil.pth", "wb") as f:
        pickle.dump({"w": _Evil()}, f)
    (ws / "folder.pth").mkdir()


def make_models(ws: Path) -> None:
    """A text file, a plain (non-toppose) ONNX model and a toppose model with the wrong skeleton in ``ws``."""
    (ws / "text.onnx").write_text("not a model")
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(ws / "plain.onnx"))
    proto = onnx.load(str(bundled_model()))
    meta = json.loads(proto.metadata_props[0].value)
    meta["spec"]["skeleton"] = SKELETONS["topview23"].to_dict()
    proto.metadata_props[0].value = json.dumps(meta)
    onnx.save(proto, str(ws / "wrongskeleton.onnx"))
