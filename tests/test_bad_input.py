"""Bad-input corpus for ``toppose`` (info, init) and ``toppose-data`` (itop, coco, synth).

Corrupt, truncated, mislabelled and hostile files; bad options; unwritable, full and existing
outputs; interrupted runs. Every case: exit code, one ``error:`` line naming the culprit, no
traceback, no file created or changed (tests/corpus.py).
"""

import json
import os

import cv2
import h5py
import numpy as np
import pytest

from corpus import check, interrupt, make_weights, mounted, runner, snapshot
from toppose.cli import app as toppose_app
from toppose.data.cli import app as data_app
from toppose.synth.writers import write_itop


def _itop(ws):
    labels, depth = write_itop(ws / "itop", "top", 6, seed=2)
    variants = {"intids": {"id": np.arange(6)}, "shape": {"visible_joints": np.zeros((6, 14), np.int16)},
                "nancoords": {"image_coordinates": np.full((6, 15, 2), np.nan, np.float32)}}
    for name, replace in variants.items():
        with h5py.File(labels) as src, h5py.File(ws / f"{name}_labels.h5", "w") as dst:
            for k in src:
                dst[k] = replace.get(k, src[k][:])
    with h5py.File(labels) as src, h5py.File(ws / "nolabel_labels.h5", "w") as dst:
        dst["id"] = src["id"][:]
    with h5py.File(depth) as src, h5py.File(ws / "short_depth.h5", "w") as dst:
        dst["id"], dst["data"] = src["id"][:3], src["data"][:3]
    (ws / "text_labels.h5").write_text("not hdf5")
    return labels, depth


def _coco(ws):
    images = ws / "cocoimg"
    images.mkdir()
    anns, ims = [], []
    for i in range(1, 61):
        cv2.imwrite(str(images / f"{i}.jpg"), np.full((40, 60, 3), i, np.uint8))
        ims.append({"id": i, "file_name": f"{i}.jpg", "height": 40, "width": 60})
        kp = [10.0, 10.0, 2.0] * 17
        anns.append({"id": i, "image_id": i, "keypoints": kp, "num_keypoints": 17, "bbox": [5, 5, 20, 20],
                     "area": 400.0, "iscrowd": 0})
    cat = {"id": 1, "name": "person", "keypoints": [f"k{j}" for j in range(17)]}
    good = {"images": ims, "annotations": anns, "categories": [cat]}
    (ws / "coco.json").write_text(json.dumps(good))
    variants = {
        "noimageid": {**good, "annotations": anns[:55] + [{k: v for k, v in anns[55].items() if k != "image_id"}]},
        "shortkp": {**good, "annotations": anns[:58] + [{**anns[58], "keypoints": [1.0] * 50}]},
        "textkp": {**good, "annotations": [{**anns[0], "keypoints": ["a"] * 51}]},
        "nocat": {**good, "categories": [{"id": 1, "name": "person"}]},
        "badimage": {**good, "images": ims + [{"id": 99}]},
        "missingimage": {**good, "images": [{**ims[0], "file_name": "gone.jpg"}], "annotations": anns[:1]},
        "nopeople": {**good, "annotations": [{**a, "num_keypoints": 0} for a in anns]},
    }
    for name, data in variants.items():
        (ws / f"{name}.json").write_text(json.dumps(data))
    (ws / "truncated.json").write_text(json.dumps(good)[:500])
    (ws / "list.json").write_text("[1, 2]")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("corpus")
    make_weights(ws)
    _itop(ws)
    _coco(ws)
    (ws / "existing").mkdir()
    (ws / "existing" / "keep.txt").write_text("keep me")
    (ws / "afile").write_text("a file, not a folder")
    return ws


INFO = [
    ("missing", ["info", "{ws}/nothere.pth"], "nothere.pth: no such file"),
    ("folder", ["info", "{ws}/folder.pth"], "folder.pth: is a folder"),
    ("text", ["info", "{ws}/text.pth"], "text.pth: truncated or not a PyTorch weights file"),
    ("empty", ["info", "{ws}/empty.pth"], "empty.pth: truncated or not"),
    ("truncated", ["info", "{ws}/truncated.pth"], "truncated.pth: truncated"),
    ("nan", ["info", "{ws}/nan.pth"], "nan.pth: tensor refine.pafs.1.0.weight holds 1 NaN/inf"),
    ("inf", ["info", "{ws}/inf.pth"], "inf.pth: tensor backbone.0.0.weight holds"),
    ("list", ["info", "{ws}/list.pth"], "list.pth: expected a state dict or checkpoint, found list"),
    ("state-dict-list", ["info", "{ws}/sdlist.pth"], "sdlist.pth: 'state_dict' is a list"),
    ("no-spec", ["info", "{ws}/nospec.pth"], "nospec.pth: toppose checkpoint without a 'spec'"),
    ("bad-spec", ["info", "{ws}/badspec.pth"], "badspec.pth: model description"),
    ("other-network", ["info", "{ws}/linear.pth"], "linear.pth: unknown weight layout"),
    ("code-running-pickle", ["info", "{ws}/evil.pth"], "evil.pth: refused to unpickle"),
    ("no-such-command", ["inform", "{ws}/ok.pth"], "No such command"),
    ("init-existing", ["init", "{ws}/ok.pth"], "ok.pth: exists (add --force"),
    ("init-under-a-file", ["init", "{ws}/afile/x.pth"], "afile is a file, not a folder"),
    ("init-folder", ["init", "{ws}/existing"], "existing: is a folder"),
    ("init-arch", ["init", "{ws}/new.pth", "--arch", "resnet"], "--arch resnet"),
    ("init-preprocess", ["init", "{ws}/new.pth", "--preprocess", "zscore"], "unknown preprocessing 'zscore'"),
    ("init-seed", ["init", "{ws}/new.pth", "--seed", "x"], "'--seed'"),
]


@pytest.mark.parametrize("name,args,culprit", INFO, ids=[c[0] for c in INFO])
def test_toppose(ws, name, args, culprit):
    check(toppose_app, [a.format(ws=ws) for a in args], culprit, ws)
    assert not os.path.exists("/tmp/toppose_corpus_pwned")


ITOP = "itop --labels {ws}/itop/ITOP_top_train_labels.h5 --depth {ws}/itop/ITOP_top_train_depth_map.h5 --out {ws}/o"
DATA = [
    ("itop-missing-labels", ITOP.replace("itop/ITOP_top_train_labels", "gone_labels"), "gone_labels.h5: no such file"),
    ("itop-text-labels", ITOP.replace("itop/ITOP_top_train_labels", "text_labels"), "text_labels.h5: not an HDF5 file"),
    ("itop-missing-datasets", ITOP.replace("itop/ITOP_top_train_labels", "nolabel_labels"), "missing dataset(s) is_valid"),
    ("itop-integer-ids", ITOP.replace("itop/ITOP_top_train_labels", "intids_labels"), "intids_labels.h5: dataset id holds int64"),
    ("itop-wrong-shape", ITOP.replace("itop/ITOP_top_train_labels", "shape_labels"), "visible_joints has shape (6, 14)"),
    ("itop-nan-coordinates", ITOP.replace("itop/ITOP_top_train_labels", "nancoords_labels"), "contain NaN or inf"),
    ("itop-short-depth", ITOP.replace("itop/ITOP_top_train_depth_map", "short_depth"), "short_depth.h5: 3 depth frames"),
    ("itop-range-text", ITOP + " --range a:b", "--range must look like START:END"),
    ("itop-range-reversed", ITOP + " --range 5:2", "--range must satisfy"),
    ("itop-every-0", ITOP + " --every 0", "--every must be at least 1"),
    ("itop-no-frame-kept", ITOP + " --persons 99", "no valid frame to keep"),
    ("itop-existing-out", ITOP.replace("{ws}/o", "{ws}/existing"), "existing: exists and is not empty (add --force"),
    ("itop-out-is-a-file", ITOP.replace("{ws}/o", "{ws}/afile"), "afile: is a file"),
    ("itop-out-under-a-file", ITOP.replace("{ws}/o", "{ws}/afile/o"), "afile is a file, not a folder"),
    ("coco-truncated", "coco --annotations {ws}/truncated.json --images {ws}/cocoimg --out {ws}/o", "truncated.json: not valid JSON"),
    ("coco-not-coco", "coco --annotations {ws}/list.json --images {ws}/cocoimg --out {ws}/o", "list.json: not COCO"),
    ("coco-no-image-id", "coco --annotations {ws}/noimageid.json --images {ws}/cocoimg --out {ws}/o", "annotation 56 has no image_id"),
    ("coco-short-keypoints-late", "coco --annotations {ws}/shortkp.json --images {ws}/cocoimg --out {ws}/o", "annotation 59 does not hold 17 x 3"),
    ("coco-text-keypoints", "coco --annotations {ws}/textkp.json --images {ws}/cocoimg --out {ws}/o", "17 x 3 numeric"),
    ("coco-no-person-category", "coco --annotations {ws}/nocat.json --images {ws}/cocoimg --out {ws}/o", "no category with 17 COCO keypoints"),
    ("coco-bad-image-entry", "coco --annotations {ws}/badimage.json --images {ws}/cocoimg --out {ws}/o", "lacks id, file_name"),
    ("coco-missing-image", "coco --annotations {ws}/missingimage.json --images {ws}/cocoimg --out {ws}/o", "gone.jpg: image listed"),
    ("coco-nobody", "coco --annotations {ws}/nopeople.json --images {ws}/cocoimg --out {ws}/o", "no image with labelled"),
    ("coco-val-fraction", "coco --annotations {ws}/coco.json --images {ws}/cocoimg --out {ws}/o --val-fraction 1.5", "--val-fraction"),
    ("coco-sample-0", "coco --annotations {ws}/coco.json --images {ws}/cocoimg --out {ws}/o --sample 0", "--sample must be at least 1"),
    ("coco-existing-out", "coco --annotations {ws}/coco.json --images {ws}/cocoimg --out {ws}/existing", "existing: exists"),
    ("synth-frames-0", "synth --out {ws}/o --frames 0", "--frames must be at least 1"),
    ("synth-frames-negative", "synth --out {ws}/o --frames -3 --people 1:2", "--frames must be at least 1"),
    ("synth-view", "synth --out {ws}/o --view front", "--view must be top or side"),
    ("synth-people-text", "synth --out {ws}/o --people many", "--people must look like MIN:MAX"),
    ("synth-people-reversed", "synth --out {ws}/o --people 3:1", "--people must satisfy"),
    ("synth-workers-0", "synth --out {ws}/o --workers 0", "--workers must be at least 1"),
    ("synth-split-path", "synth --out {ws}/o --split ../x", "--split must be a plain word"),
    ("synth-itop-fov", "synth --out {ws}/o --fov 60:90", "--fov: ITOP files hold one camera"),
    ("synth-existing-itop", "synth --out {ws}/itop --frames 2", "ITOP_top_train_labels.h5: exists (add --force"),
    ("synth-existing-training", "synth --out {ws}/existing --frames 2 --people 1:1", "existing: exists and is not empty"),
    ("synth-out-is-a-file", "synth --out {ws}/afile --frames 2 --people 1:1", "afile: is a file"),
    ("missing-option", "itop --labels x", "Missing option"),
    ("unknown-option", "synth --out {ws}/o --colour", "No such option: --colour"),
]


@pytest.mark.parametrize("name,args,culprit", DATA, ids=[c[0] for c in DATA])
def test_toppose_data(ws, name, args, culprit):
    check(data_app, args.format(ws=ws).split(), culprit, ws)


@pytest.mark.parametrize("command", [
    "synth --frames 40 --people 1:2 --out {out}/o", "synth --frames 40 --out {out}",
    "itop --labels {ws}/itop/ITOP_top_train_labels.h5 --depth {ws}/itop/ITOP_top_train_depth_map.h5 --out {out}/o"])
def test_full_disk_leaves_nothing(ws, command):
    with mounted("64k") as full:
        check(data_app, command.format(ws=ws, out=full).split(), "no space left on device", full, ws)
        assert not any(full.iterdir())


def test_read_only_output(ws):
    with mounted(read_only=True) as ro:
        check(data_app, ["synth", "--out", ro / "o", "--frames", "2", "--people", "1:1"], "is not writable", ro, ws)


def test_a_second_conversion_replaces_the_first_cleanly(ws, tmp_path):
    args = ITOP.replace("{ws}/o", str(tmp_path / "o")).format(ws=ws).split()
    assert runner.invoke(data_app, args).exit_code == 0
    (tmp_path / "o" / "images" / "stale.png").write_bytes(b"old")
    check(data_app, args, "exists and is not empty", tmp_path)
    res = runner.invoke(data_app, [*args, "--range", "0:3", "--force"])
    assert res.exit_code == 0, res.output
    kept = json.loads((tmp_path / "o" / "annotations.json").read_text())["images"]
    assert sorted(p.name for p in (tmp_path / "o" / "images").iterdir()) == sorted(i["file_name"][7:] for i in kept)
    assert [p.name for p in tmp_path.iterdir()] == ["o"]  # no temporary folder left beside it


def test_sigint_during_conversion_leaves_nothing(tmp_path):
    code, err = interrupt("toppose-data", ["synth", "--frames", "100000", "--people", "1:2", "--out", tmp_path / "o"],
                          lambda: list(tmp_path.glob(".o.*/images/*.png")))
    assert code == 130 and err.strip().splitlines() == ["error: interrupted"], err[-1500:]
    assert snapshot(tmp_path) == {}
