"""The edge install: a venv with toppose's base dependencies only streams without torch, and every
command that needs an extra says in one line what to install."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from edge_venv import build_edge_venv  # noqa: E402

from toppose.synth.player import ScenePlayer  # noqa: E402
from toppose.synth.writers import depth_to_mm  # noqa: E402


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """(python, bin folder, work folder) of a fresh venv with ``pip install toppose`` (no extras)."""
    root = tmp_path_factory.mktemp("edge")
    python = build_edge_venv(root)
    (root / "work").mkdir()
    return python, python.parent, root / "work"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_the_base_install_streams_and_infers_without_torch(edge):
    python, bin_, work = edge
    absent = "import importlib.util as u; print([m for m in ('torch', 'onnx', 'pycocotools', 'matplotlib', " \
             "'pyrealsense2') if u.find_spec(m)])"
    assert _run([str(python), "-c", absent], work).stdout.strip() == "[]"
    res = _run([str(bin_ / "toppose-stream"), "--demo", "--frames", "4", "--json", "demo.jsonl", "--no-show"], work)
    assert res.returncode == 0, res.stderr[-1500:]
    assert [json.loads(l)["index"] for l in (work / "demo.jsonl").read_text().splitlines()] == [0, 1, 2, 3]
    frame, _ = next(ScenePlayer(5, 2).frames(1))
    cv2.imwrite(str(work / "d.png"), depth_to_mm(frame.depth))
    res = _run([str(bin_ / "toppose-infer"), "d.png", "--out", "o"], work)
    assert res.returncode == 0 and "d.png:" in res.stdout and "people" in res.stdout, res.stderr[-1500:]
    assert (work / "o" / "d_keypoints.json").is_file()


@pytest.mark.parametrize("command, extra", [
    (["toppose-train", "--data", "d", "--out", "run"], "train"),
    (["toppose-export", "w.pth", "-o", "m.onnx"], "train"),
    (["toppose-eval", "--data", "d", "--weights", "w.pth"], "train"),
    (["toppose-eval", "--data", "d", "--model", "m.onnx"], "train"),
    (["toppose", "init", "w.pth"], "train"),
    (["toppose", "info", "w.pth"], "train"),
    (["toppose-data", "coco", "--annotations", "a.json", "--images", "i", "--out", "c"], "train"),
    (["toppose-stream", "--realsense", "--no-show"], "realsense")])
def test_a_missing_extra_is_one_line_with_the_pip_command(edge, command, extra):
    _, bin_, work = edge
    before = sorted(p.name for p in work.iterdir())
    res = _run([str(bin_ / command[0]), *command[1:]], work)
    errors = [l for l in res.stderr.splitlines() if l.startswith("error:")]
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-1500:]
    assert len(errors) == 1 and f"pip install 'toppose[{extra}]'" in errors[0]
    assert sorted(p.name for p in work.iterdir()) == before  # nothing written

