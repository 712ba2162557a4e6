"""scripts/track_returns.py: a person's keypoints leaving the frame, and who shows up there next."""

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "track_returns", Path(__file__).parents[1] / "scripts" / "track_returns.py")
returns = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(returns)


def pose(x: float, y: float, shown: bool = True) -> np.ndarray:
    kp = np.zeros((18, 3))
    kp[:3] = [[x, y, 2], [x + 5, y, 2], [x + 10, y, 2]]
    kp[:, 2] *= shown
    return kp


def frames(rows: list[list[tuple[int, float, float, bool]]]):
    ids = [np.array([r[0] for r in row], np.int64) for row in rows]
    kps = [np.array([pose(*r[1:]) for r in row]).reshape(-1, 18, 3) for row in rows]
    return ids, kps


def test_a_return_and_a_newcomer_near_an_exit_are_told_apart_by_the_truth_only():
    # A shows keypoints in frames 0-2, none in 3-5 (still in the annotations), again from 6 at 4 px.
    # B's keypoints leave after frame 1; C's first appear in frame 4, 10 px from B's last, and D's in
    # frame 4 too, but 200 px away. The last frame ends every run: no exit there.
    rows = [[(1, 5, 100, True), (2, 5, 10, True)], [(1, 5, 100, True), (2, 5, 10, True)],
            [(1, 5, 100, True)], [(1, 5, 100, False)], [(1, 5, 100, False), (3, 15, 10, True), (4, 200, 200, True)],
            [(1, 5, 100, False), (3, 15, 10, True), (4, 200, 200, True)], [(1, 9, 100, True), (3, 15, 10, True)]]
    starts, exits = returns.runs(*frames(rows))
    assert sorted((f, t) for f, t, _ in exits) == [(1, 2), (2, 1), (5, 4)]
    assert sorted((f, t) for f, t, _ in starts) == [(0, 1), (0, 2), (4, 3), (4, 4), (6, 1)]
    assert returns.classify(starts, exits, 10, 40) == {"same": 1, "other": 1, "both": 0, "none": 1}
    assert returns.classify(starts, exits, 2, 40) == {"same": 0, "other": 0, "both": 0, "none": 3}


def test_an_existing_output_is_kept_without_force(tmp_path, capsys):
    out = tmp_path / "r.json"
    out.write_text("{}")
    assert returns.main([str(tmp_path / "seq"), "--out", str(out)]) == 2
    assert "exists (use --force" in capsys.readouterr().err and out.read_text() == "{}"
