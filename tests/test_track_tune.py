"""scripts/track_tune.py: tracker settings from KEY=VALUE, the cached people read back per frame."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("track_tune", Path(__file__).parents[1] / "scripts" / "track_tune.py")
tune = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tune)


def test_overrides_set_tracker_fields_in_their_own_types_and_refuse_unknown_ones():
    cfg = tune.overrides(["max_lost=12", "edge=22.5"])
    assert cfg.max_lost == 12 and isinstance(cfg.max_lost, int) and cfg.edge == 22.5
    with pytest.raises(ValueError, match="nope=1: expected KEY=VALUE"):
        tune.overrides(["nope=1"])
    with pytest.raises(ValueError, match="max_lost=1.5: max_lost must be of type int"):
        tune.overrides(["max_lost=1.5"])


def test_cached_people_come_back_frame_by_frame(tmp_path):
    kp = np.zeros((3, 18, 3), np.float32)
    kp[:, :4] = [10, 20, 2]
    kp[2, 0, 2] = 0                                  # the third person shows 3 keypoints
    np.savez(tmp_path / "s.npz", keypoints=kp, scores=np.array([0.9, 0.8, 0.7], np.float32), counts=np.array([2, 0, 1]))
    frames = list(tune.cached_frames(tmp_path / "s.npz"))
    assert [len(p.scores) for p in frames] == [2, 0, 1]
    assert frames[0].scores.tolist() == pytest.approx([0.9, 0.8]) and frames[2].parts.tolist() == [3]
    np.testing.assert_array_equal(frames[2].keypoints, kp[2:])


def test_a_folder_that_is_no_sequence_is_refused_in_one_line(tmp_path, capsys):
    assert tune.main(["score", str(tmp_path), "max_lost=5"]) == 2
    assert capsys.readouterr().err.strip() == f"{tmp_path}: not a sequence folder (no annotations.json)"
    # overrides may also follow an option (they were refused there as unrecognised arguments)
    assert tune.main(["score", str(tmp_path), "--cache", str(tmp_path), "max_lost=5"]) == 2
    assert capsys.readouterr().err.strip() == f"{tmp_path}: not a sequence folder (no annotations.json)"


def test_cache_keeps_an_existing_file_without_force_and_refuses_two_sequences_of_one_name(tmp_path, capsys):
    for seq in (tmp_path / "a" / "s1", tmp_path / "b" / "s1"):
        seq.mkdir(parents=True)
        (seq / "annotations.json").write_text("{}")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "s1.npz").write_bytes(b"kept")
    assert tune.main(["cache", str(tmp_path / "a" / "s1"), "--cache", str(tmp_path / "cache")]) == 2
    assert "s1.npz: exists (use --force to replace it)" in capsys.readouterr().err
    assert (tmp_path / "cache" / "s1.npz").read_bytes() == b"kept"
    both = [str(tmp_path / "a" / "s1"), str(tmp_path / "b" / "s1")]
    assert tune.main(["cache", *both, "--cache", str(tmp_path / "c2")]) == 2
    assert "two sequences share a folder name" in capsys.readouterr().err
