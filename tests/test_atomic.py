"""One overwrite rule and atomic writing (toppose.atomic)."""

import pytest

from toppose.atomic import atomic_dir, atomic_path, check_output, check_output_dir
from toppose.errors import OutputError


def test_atomic_dir_replaces_a_folder_as_a_whole(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.png").write_text("old")
    with pytest.raises(OutputError, match="exists and is not empty"):
        with atomic_dir(tmp_path / "out"):
            pass
    with atomic_dir(tmp_path / "out", force=True) as tmp:
        (tmp / "new.png").write_text("new")
        assert (tmp_path / "out" / "stale.png").exists()  # the old folder stays until the new one is complete
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["new.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failure_leaves_the_old_output_and_no_temporary(tmp_path):
    (tmp_path / "f.json").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "f.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "a").write_text("half")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"] and (tmp_path / "f.json").read_text() == "old"


def test_checks_name_the_path_and_the_problem(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"--json .*file: exists \(add --force"):
        check_output(tmp_path / "file", False, "--json")
    check_output(tmp_path / "file", True)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(tmp_path / "file" / "x.json", True)
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path, True)
    with pytest.raises(OutputError, match="is a file, expected a folder"):
        check_output_dir(tmp_path / "file", True)
