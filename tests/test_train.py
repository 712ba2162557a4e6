import json
import math
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from toppose.model_spec import ModelSpec
from toppose.networks import build_network
from toppose.synth.writers import write_training
from toppose.train import freeze, loop
from toppose.train.cli import app
from toppose.train.config import TrainConfig, parse_data_arg
from toppose.weights import load_weights, save_checkpoint


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    write_training(root / "d", "top", 12, seed=1, people=(1, 2), fully_in_view=True)
    return root / "d"


def _cfg(data, out, **kw):
    base = dict(data=((str(data), 1.0),), out=str(out), epochs=2, epoch_size=8, batch_size=4, lr=1e-3,
                optimizer="adamw", input_size=(64, 96), workers=0, device="cpu", seed=3)
    return TrainConfig(**{**base, **kw})


def test_a_short_run_lowers_the_loss(data, tmp_path):
    summary = loop.train(_cfg(data, tmp_path / "r", epochs=4))
    assert summary["best"]["metric"] == "train_loss"  # no validation set: best.pth by training loss
    history = [l.split(",") for l in (tmp_path / "r" / "history.csv").read_text().splitlines()]
    col = history[0].index("train_loss")
    losses = [float(row[col]) for row in history[1:]]
    assert losses[-1] < losses[0]
    assert (tmp_path / "r" / "best.pth").is_file() and (tmp_path / "r" / "curves.png").is_file()


def test_checkpoints_record_the_data_recipe_not_its_paths(data, tmp_path):
    loop.train(_cfg(data, tmp_path / "r", epochs=1, val=(str(data),), val_images=2))
    first = load_weights(tmp_path / "r" / "last.pth").provenance
    assert first["init"] == "scratch" and first["seed"] == 3 and first["epochs"] == 1
    (entry,) = first["data"]
    assert (entry["name"], entry["weight"], entry["images"]) == ("d", 1.0, 12)
    recipe = entry["recipe"]
    assert (recipe["view"], recipe["frames"], recipe["seed"], recipe["people"]) == ("top", 12, 1, [1, 2])
    assert first["val"][0]["recipe"] == recipe
    loop.train(_cfg(data, tmp_path / "s", epochs=1, init=str(tmp_path / "r" / "last.pth")))
    second = load_weights(tmp_path / "s" / "last.pth").provenance
    assert second["init"] == "last.pth" and len(second["init_sha256"]) == 64 and second["parent"] == first
    assert str(data) not in json.dumps(second) and str(tmp_path) not in json.dumps(second)  # no machine paths


def test_frozen_parameters_stay_bit_identical(data, tmp_path):
    torch.manual_seed(0)
    spec = ModelSpec(arch="lite", encoding=__import__("toppose.model_spec").model_spec.InputEncoding(kind="depth"))
    model = build_network(spec)
    save_checkpoint(tmp_path / "init.pth", model, spec)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summary = loop.train(_cfg(data, tmp_path / "r", init=str(tmp_path / "init.pth"), freeze="stages", epochs=1, lr=1e-2,
                              val=(str(data),), val_images=3))
    row = json.loads(json.dumps(load_weights(tmp_path / "r" / "last.pth").checkpoint["history"][-1]))
    assert summary["best"] == {"metric": "val_ap", "value": row["val_ap"], "epoch": 1} and row["val_loss"] > 0
    after = load_weights(tmp_path / "r" / "last.pth").model.state_dict()
    stem = [k for k in before if k.startswith(("backbone.", "cpm."))]
    assert stem and all(torch.equal(before[k], after[k]) for k in stem)  # BN statistics included
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("refine."))


def test_freeze_presets():
    model = build_network(ModelSpec(arch="openpose"))
    late = freeze.trainable_mask(model, "late-stages")
    assert all(on == n.startswith(("model4_", "model5_", "model6_")) for n, on in late.items())
    heads = freeze.trainable_mask(model, "heads", train_patterns=("model0.model.0.*",))
    assert heads["model6_1.12.weight"] and heads["model1_2.8.bias"] and heads["model0.model.0.weight"]
    assert not heads["model6_1.10.weight"]
    groups = freeze.apply(model, freeze.trainable_mask(model, "all"), 0.1, 0.5)
    assert {g["name"]: g["lr"] for g in groups} == {"stages": 0.1, "stem": 0.05}
    assert "trainable" in freeze.table(model, late)


def test_resume_after_an_interruption_matches_an_uninterrupted_run(data, tmp_path, monkeypatch):
    loop.train(_cfg(data, tmp_path / "a"))
    real = loop.write_curves

    def crash_once(out, history):
        real(out, history)
        if len(history) == 1:
            raise KeyboardInterrupt("killed after epoch 1")
    monkeypatch.setattr(loop, "write_curves", crash_once)
    with pytest.raises(KeyboardInterrupt):
        loop.train(_cfg(data, tmp_path / "b"))
    monkeypatch.setattr(loop, "write_curves", real)
    loop.train(_cfg(data, tmp_path / "b"), resume=True)  # continues from last.pth
    a = load_weights(tmp_path / "a" / "last.pth").model.state_dict()
    b = load_weights(tmp_path / "b" / "last.pth").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_process_ddp_keeps_ranks_identical(data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "toppose.train.cli",
           "--data", str(data), "--out", str(tmp_path / "ddp"), "--epochs", "1", "--epoch-size", "8", "--batch-size", "2",
           "--input-size", "64x96", "--workers", "0", "--device", "cpu"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_in_sync"] is True


def test_options_build_the_config_over_its_defaults(tmp_path):
    from toppose.errors import ConfigError
    from toppose.train.cli import _without_gpus
    from toppose.train.config import config_from_options

    assert _without_gpus(["--gpus=2", "--data", "d", "--gpus", "3", "--out", "o"]) == ["--data", "d", "--out", "o"]
    cfg = config_from_options({"data": ["a:2", "b"], "out": tmp_path, "input_size": "64x96", "time_limit": 3})
    assert cfg.data == (("a", 2.0), ("b", 1.0)) and cfg.input_size == (64, 96) and cfg.time_limit_min == 3.0
    assert cfg.epoch_size is None and cfg.lr == TrainConfig.lr  # not given: TrainConfig's default
    (tmp_path / "c.json").write_text(json.dumps({"data": [["a", 1]], "out": "o", "lr": 0.5, "epochs": 7}))
    assert config_from_options({"lr": 0.1}, config=tmp_path / "c.json").lr == 0.1
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"data": [["a", 1]], "out": "elsewhere"}))
    assert config_from_options({}, resume=tmp_path / "run").out == str(tmp_path / "run")
    with pytest.raises(ConfigError, match="drop --batch-size"):
        config_from_options({"batch_size": 4}, resume=tmp_path / "run")


def test_config_and_data_argument():
    assert parse_data_arg("itop:0.7") == ("itop", 0.7) and parse_data_arg("/a/b") == ("/a/b", 1.0)
    with pytest.raises(ValueError, match="freeze preset"):
        TrainConfig(data=(("d", 1.0),), out="o", freeze="nope")
    cfg = TrainConfig(data=(("d", 1.0),), out="o")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_bad_inputs_fail_cleanly(data, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "missing" in res.output and "no such file" in res.output
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "annotations.json").write_text(json.dumps(
        {"images": [], "annotations": [], "categories": [{"keypoints": ["k"] * 18}]}))
    res = runner.invoke(app, ["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "holds no images" in res.output
    save_checkpoint(tmp_path / "lite.pth", build_network(ModelSpec(arch="lite")), ModelSpec(arch="lite"))
    res = runner.invoke(app, ["--data", str(data), "--out", str(tmp_path / "o"), "--arch", "openpose",
                              "--init", str(tmp_path / "lite.pth")])
    assert res.exit_code == 1 and "not openpose" in res.output


def test_cli_trains_then_resumes_a_finished_run(data, tmp_path):
    runner = CliRunner()
    args = ["--data", f"{data}:1", "--out", str(tmp_path / "run"), "--epochs", "1", "--epoch-size", "4",
            "--batch-size", "2", "--input-size", "64x96", "--workers", "0", "--device", "cpu", "--freeze", "heads"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "trainable" in res.output and json.loads((tmp_path / "run" / "config.json").read_text())["freeze"] == "heads"
    res = runner.invoke(app, ["--resume", str(tmp_path / "run")])
    assert res.exit_code == 0 and "resumed" in res.output  # nothing left to do: the run is complete
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["epochs"] == 1


def test_eval_cli_oracle_and_argument_errors(data, tmp_path):
    from toppose.train.eval_cli import app as eval_app
    runner = CliRunner()
    res = runner.invoke(eval_app, ["--data", str(data), "--oracle", "--out", str(tmp_path / "o.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o.json").read_text())["stats"]["AP"] >= 0.95 and "PCK@0.2" in res.output
    res = runner.invoke(eval_app, ["--data", str(data)])
    assert res.exit_code == 1 and "exactly one of --weights, --model or --oracle" in res.output
    res = runner.invoke(eval_app, ["--data", str(tmp_path / "nowhere"), "--weights", str(tmp_path / "w.pth")])
    assert res.exit_code == 1 and "nowhere/annotations.json: no such file" in res.output



def test_gpu_augment_on_cpu_tensors_trains_on_the_loaders_crops(data, tmp_path):
    cpu = loop.Trainer(_cfg(data, tmp_path / "a"))
    gpu = loop.Trainer(_cfg(data, tmp_path / "b", gpu_augment=True))
    assert type(gpu.loader).__name__ == "GpuBatches" and len(gpu.loader) == len(cpu.loader)
    (x0, *targets0), (x1, *targets1) = next(iter(cpu.loader)), next(iter(gpu.loader))
    assert x1.device.type == "cpu" and x1.shape == x0.shape
    for a, b in zip(targets0, targets1):  # same samples, same crops: the same targets
        assert (a - b).abs().max() < 1e-4
    summary = gpu.run()
    history = [l.split(",") for l in (tmp_path / "b" / "history.csv").read_text().splitlines()]
    assert summary["epochs"] == 2 and math.isfinite(float(history[1][history[0].index("train_loss")]))
