"""README figures: every one is rendered from a results file by benchmarks/render_readme.py."""

import json

import pytest

from benchmarks.conftest import merge_results
from benchmarks.render_readme import READMES, RESULT_FILES, ROOT, RenderError, blocks, load_results, render_text, \
    unbacked_figures

EMPTY = {name: {} for name in RESULT_FILES}


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_readme_is_in_sync_with_the_results_files(readme):
    text = readme.read_text()
    assert blocks(text), "no results blocks"
    assert render_text(text, load_results()) == text, "out of date: run python benchmarks/render_readme.py"


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_figure_in_a_results_block_comes_from_a_results_file(readme):
    assert unbacked_figures(readme.read_text(), load_results()) == []


def test_renderers_add_words_never_numbers():
    text = "\n".join(f"<!-- results:{name} -->\n<!-- /results -->" for name in
                     {n for r in READMES for n, _ in blocks(r.read_text())})
    rendered = render_text(text, EMPTY)
    assert "–" in rendered and unbacked_figures(rendered, EMPTY) == []


def test_a_hand_typed_figure_is_caught():
    results = {"bench": {"render": {"top_1to4_people_fps": 243.5}, "stream_fps": {"int8_pipeline_over_bare": 0.913}}}
    text = ("<!-- results:highlights -->\nrenders at 243.5 FPS (top_1to4_people_fps), 91 % of bare, "
            "background loss 0.026, 119 of 227 people\n<!-- /results -->\n")
    found = [f.split(": ", 1)[1].split(" ")[0] for f in unbacked_figures(text, results)]
    assert found == ["0.026", "119", "227"]


def test_unknown_blocks_and_bad_results_files_are_refused(tmp_path):
    with pytest.raises(RenderError, match="unknown results block 'nope'"):
        render_text("<!-- results:nope -->\n<!-- /results -->", EMPTY)
    with pytest.raises(RenderError, match="'parity' appears 2 times"):
        render_text("<!-- results:parity -->\n<!-- /results -->\ntext\n<!-- results:parity -->\n<!-- /results -->", EMPTY)
    (tmp_path / "r.json").write_text("{not json")
    with pytest.raises(RenderError, match="r.json: not valid JSON"):
        load_results({"bench": tmp_path / "r.json"})
    assert load_results({"bench": tmp_path / "missing.json"}) == {"bench": {}}


def test_results_merge_replaces_and_stamps_only_what_was_measured(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"machine": {"date": "old"}, "a": {"x": 1}, "b": {"y": 2}}))  # before stamps
    merged = merge_results(path, {"b": {"z": 3}}, {"date": "new"})
    assert merged == {"measured": {"a": {"date": "old"}, "b": {"date": "new"}}, "a": {"x": 1}, "b": {"z": 3}}
    path.write_text(json.dumps(merged))
    again = merge_results(path, {"c": {"w": 4}}, {"date": "newer"})
    assert again["measured"] == {"a": {"date": "old"}, "b": {"date": "new"}, "c": {"date": "newer"}}
    assert merge_results(tmp_path / "none.json", {"a": {}}, {"date": "d"}) == {"measured": {"a": {"date": "d"}}, "a": {}}
