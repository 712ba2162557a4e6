"""One renderer per README results block: results files (parsed JSON) -> Markdown.

Every figure a block shows is read from the results; the renderers add words, never numbers.
A figure not measured yet shows as a dash.
"""

from __future__ import annotations

import math
import re

DASH = "–"
SPARSE_KEY = re.compile(r"sparse_(\d+)p_(\d+x\d+)_ms")  # e.g. sparse_5p_240x320_ms
BENCH = "`pytest benchmarks/ --benchmark`"


def _get(d: dict, *path):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _num(v, spec: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    return format(v, spec)


def _pct(v) -> str:
    return DASH if v is None else f"{round(100 * v)} %"


def _stamp(results: dict, *sections: str) -> str:
    """'measured DATE on CPU (N cores) at commit C' for the sections' (first) stamp."""
    m = next((s for s in (_get(results, "bench", "measured", k) for k in sections) if s), None)
    if not m:
        return "not measured yet"
    where = f" on {m['cpu']} ({m['cores']} cores)" if m.get("cpu") else ""
    commit = f" at commit `{m['commit']}`" if m.get("commit") else ""
    return f"measured {m['date']}{where}{commit}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _file(fid: dict | None) -> str:
    return DASH if not fid else f"`{fid['file']}` (sha256 `{fid['sha256'][:12]}`)"


def _set(recipe: dict | None) -> str:
    if not recipe:
        return DASH
    lo, hi = recipe["people"]
    where = "fully in frame" if recipe["fully_in_view"] else "anywhere, many cut by the border"
    return (f"{recipe['view']} view, {lo}-{hi} people {where}{_scene(recipe.get('scene'))}; "
            f"{recipe['frames']} frames, seed {recipe['seed']}")


def _scene(scene: dict | None) -> str:
    """', d435 sensor, 2 pieces of furniture, ...' for a recipe's scene options ('' for today's recipe)."""
    if not scene:
        return ""
    words = [f"{scene['sensor']} sensor"]
    if scene.get("clutter") is not None:
        words.append(f"up to {scene['clutter']} pieces of furniture among people")
    for key, label, unit in (("height", "camera", " m high"), ("tilt", "tilt", " deg"), ("fov", "field of view", " deg")):
        if key in scene:
            lo, hi = scene[key]
            words.append(f"{label} {lo}-{hi}{unit}")
    return ", " + ", ".join(words)


def bundled_model(results: dict) -> str:
    m = _get(results, "bench", "bundled_model") or {}
    prov = m.get("provenance") or {}
    hw = "x".join(str(v) for v in m.get("input_hw", [])) or DASH
    data = ", ".join(f"`{d[0]}` x {d[1]}" if isinstance(d, list) else f"`{d.get('name')}` x {d.get('weight')}"
                     for d in prov.get("data", [])) or DASH
    return "\n".join([
        "| | |", "|---|---|",
        f"| checkpoint | {_file(m.get('checkpoint'))} |",
        f"| bundled file | {_file(m.get('onnx'))}, {_num(m.get('onnx_mb'))} MB |",
        f"| network | `{m.get('arch', DASH)}`: {_num(m.get('parameters_m'))} M parameters, "
        f"{_num(m.get('gflops'))} GFLOPs per {hw} frame, stride {_num(m.get('stride'))}, "
        f"{_num(m.get('paf_channels'))} PAF + {_num(m.get('heatmap_channels'))} heatmap channels |",
        f"| provenance (as recorded) | init `{prov.get('init', DASH)}`, {_num(prov.get('epochs'))} epochs, "
        f"data {data}, validation AP {_num(prov.get('val_ap'), '.3f')} |",
        "", f"({_stamp(results, 'bundled_model')} by `pytest benchmarks/test_bench_accuracy.py --benchmark`.)"])


def bundled_ap(results: dict) -> str:
    m = _get(results, "bench", "bundled_model") or {}
    rows = _get(results, "bench", "bundled_ap") or {}
    out = [f"Checkpoint {_file(m.get('checkpoint'))} run in PyTorch, and the bundled int8 file "
           f"{_file(m.get('onnx'))}, each scored with `toppose-eval` (pycocotools AP, COCO keypoint OKS) on sets "
           f"rendered by `toppose-data synth` with seeds no training run uses; the decoder's ceiling is "
           f"`toppose-eval --oracle`. {_sentence(_stamp(results, 'bundled_ap'))} by "
           "`pytest benchmarks/test_bench_accuracy.py --benchmark`.", "",
           "| test set | AP | AP50 | AP75 | int8 AP | decoder ceiling |", "|---|---|---|---|---|---|"]
    for row in rows.values():
        c = row.get("checkpoint", {})
        out.append(f"| {_set(row.get('set'))} | {_num(c.get('AP'), '.3f')} | {_num(c.get('AP50'), '.3f')} "
                   f"| {_num(c.get('AP75'), '.3f')} | {_num(_get(row, 'int8', 'AP'), '.3f')} "
                   f"| {_num(_get(row, 'oracle', 'AP'), '.3f')} |")
    return "\n".join(out if rows else out + [f"| {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} |"])


def sensor_targets(results: dict) -> str:
    t = _get(results, "bench", "sensor_targets") or {}
    out = [f"The sensor-realism issue's targets for the int8 bundled model on the d435 sets above "
           f"({_stamp(results, 'sensor_targets')} by `pytest benchmarks/test_bench_accuracy.py --benchmark`):", "",
           "| target | met |", "|---|---|"]
    out += [f"| {name} | {'yes' if ok else 'no'} |" for name, ok in (t.get("met") or {}).items()]
    gaps = t.get("int8_minus_fp32_gap") or {}
    out += ["", f"Top view, people anywhere (d435): int8 AP is {_num(t.get('any_ceiling_share'), '.3f')} of the "
            f"decoder's ceiling; largest int8-fp32 gap {_num(max(gaps.values()) if gaps else None, '.3f')} AP."]
    return "\n".join(out if t.get("met") else out[:2] + [f"Not measured yet ({BENCH})."])


def border(results: dict) -> str:
    b = _get(results, "bench", "border") or {}
    keys = [f"{key}_{skeleton}" for key in ("oracle_ap", "oracle_ap_min_keypoints")
            for skeleton in ("openpose18", "topview23")]
    with_merge = [_num(b.get(k), ".3f") for k in keys]
    without = [_num(b.get(f"{k}_without_merge"), ".3f") for k in keys]
    k = _num(b.get("min_keypoints"))
    return (f"On the anywhere set ({_set(b.get('set'))}) {_num(b.get('neck_outside_frame'))} of "
            f"{_num(b.get('people_3plus_keypoints'))} people with {k} or more keypoints "
            f"have their neck outside the frame. The decoder's ceiling there is {with_merge[0]} with the "
            f"standard skeleton and {with_merge[1]} with `topview23`, and {with_merge[2]} and {with_merge[3]} "
            f"ignoring people with fewer than {k} labelled keypoints (`--min-keypoints {k}`); without piece "
            f"merging it is {without[0]}, {without[1]}, {without[2]} and {without[3]} "
            f"({_stamp(results, 'border')}).")


def parity(results: dict) -> str:
    ap = _get(results, "bench", "ap_top_full") or {}
    about = _get(results, "bench", "ap_top_full_about") or {}
    return (f"On the benchmarks' own held-out set ({_set(about.get('set'))}) the checkpoint scores "
            f"{_num(ap.get('pytorch'))} AP in PyTorch, its fp32 export {_num(ap.get('fp32'))}, fp16 "
            f"{_num(ap.get('fp16'))} and int8 {_num(ap.get('int8'))} (int8 calibrated on "
            f"{_set(about.get('calibration'))}; {_stamp(results, 'ap_top_full')}).")


def highlights(results: dict) -> str:
    fps = _get(results, "bench", "stream_fps") or {}
    decoder = _get(results, "bench", "decoder_targets") or {}
    sparse = next(((m, v) for m, v in ((SPARSE_KEY.fullmatch(k), v) for k, v in decoder.items()) if m), None)
    where = f"{sparse[0][1]} people at {sparse[0][2]}" if sparse else DASH
    return (f"Highlights ({_stamp(results, 'stream_fps', 'decoder_targets')}): the sparse decoder takes "
            f"{_num(sparse[1] if sparse else None)} ms for {where}; "
            f"the bundled int8 model streams the demo scene end to end at "
            f"{_num(fps.get('demo_int8_with_rendering_and_video'))} FPS (rendering the scene and writing the video "
            f"included) and a folder of depth frames at up to {_num(fps.get('int8_pipeline'))} FPS (bare inference: "
            f"up to {_num(fps.get('int8_bare_inference'))} FPS); pipeline FPS over bare inference FPS, the two run in "
            f"turns and the median over the pairs taken: {_pct(fps.get('int8_pipeline_over_bare'))} for int8, "
            f"{_pct(fps.get('fp32_pipeline_over_bare'))} for fp32 (this box's speed drifts within a minute).")


def gpu(results: dict) -> str:
    g = results.get("gpu") or {}
    if not g:
        return ("No GPU measurement is recorded in this checkout; on a GPU machine "
                "`python scripts/gpu_checks.py --out benchmarks/results_gpu.json` (which `scripts/gpu_train.sh` "
                "and `scripts/device_mix.sh` run) writes one, and `python benchmarks/render_readme.py` shows it here.")
    out = [f"On {g.get('gpu', DASH)} (torch {g.get('torch', DASH)}, {g.get('date', DASH)}; "
           "`python scripts/gpu_checks.py --out benchmarks/results_gpu.json`):", "",
           "| measure | network | input | batch | images/s | peak memory GB |", "|---|---|---|---|---|---|"]
    for r in g.get("train_amp_bf16", []):
        out.append(f"| bf16 AMP training | {r['arch']} | {'x'.join(map(str, r['input']))} | {r['batch']} "
                   f"| {_num(r['images_per_s'])} | {_num(r.get('peak_memory_gb'))} |")
    for r in g.get("inference", []):
        out.append(f"| fp16 inference | {r['arch']} | {'x'.join(map(str, r['input']))} | {r['batch']} "
                   f"| {_num(r['fp16_images_per_s'])} | {DASH} |")
    return "\n".join(out + ["", f"onnxruntime providers there: {', '.join(g.get('onnxruntime_providers', [])) or DASH}."])


def experiment(results: dict) -> str:
    e = results.get("experiment") or {}
    if not e.get("rows"):
        return ("No run of the experiment is recorded in this checkout; "
                "`python scripts/experiment.py ... --results benchmarks/results_experiment.json` records one.")
    out = [f"On {e.get('device', DASH)}, {e.get('finetune_min', DASH)} min of fine-tuning per preset "
           f"(`scripts/experiment.py`, {e.get('date', DASH)}):", "",
           "| model | freeze | AP top, fully in frame | AP top, anywhere | AP side |", "|---|---|---|---|---|"]
    out += [f"| {r['model']} | `{r['preset']}` | {_num(r.get('test_top_full'))} | {_num(r.get('test_top_any'))} "
            f"| {_num(r.get('test_side'))} |" for r in e["rows"]]
    return "\n".join(out)


SECTIONS = (("inference_cpu_ms", "CPU inference, ms per frame"), ("inference_cpu_ratio", "Speed ratios (same run)"),
            ("ap_top_full", "AP on the held-out top-view set"), ("stream_fps", "Streaming, frames per second"),
            ("stream_latency_ms", "Streaming latency p50 / p95, ms (file at full speed: queued)"),
            ("stream_stage_ms_p50", "Streaming, ms per frame per stage (p50)"),
            ("stream_paced_30fps", "Paced 30 FPS depth source, bundled int8: glass-to-pose"),
            ("stream_four_sources", "Four paced 30 FPS sources through one session (fp32, dynamic batch)"),
            ("stream_load", "1-minute load average during the streaming runs"), ("decoder_targets", "Decoder targets"),
            ("render", "Renderer"), ("realsense", "RealSense recording (.db3) of rendered scenes, bundled int8 model"),
            ("augment", "Training crops per second (lite, 240x320, d435 scenes with clutter)"),
            ("install_mb", "Install size, MB of site-packages"),
            ("tracking_bundled_model", "Tracking with the bundled model (the sequences above)"),
            ("tracking_true_poses", "Tracking the true poses (the tracker's ceiling)"),
            ("counting_bundled_model", "Counting with the bundled model"),
            ("tracking_speed", "Tracking + zones speed"), ("tracking_targets", "Tracking targets"),
            ("lift3d_speed", "3-D lifting speed (bundled lifter)"), ("lift3d_targets", "3-D targets (ITOP metric)"))


def lift3d(results: dict) -> str:
    """README: ITOP's per-joint precision at 10 cm on the rendered ITOP-format test files."""
    r = _get(results, "bench", "lift3d_itop") or {}
    st = r.get("set") or {}
    cols = ("gt2d_learned", "gt2d_constant", "model_learned", "model_constant", "model_tta_learned")
    joints = list((r.get("gt2d_learned") or {}).keys())
    out = [f"Rendered ITOP-format top-view test files (`toppose-data synth --frames {_num(st.get('frames'))} "
           f"--seed {_num(st.get('seed'))} --split test`, sensor `{st.get('sensor', DASH)}` with its noise; "
           f"{_num(st.get('valid_frames'))} valid frames), scored by `{st.get('command', 'toppose-eval')}`; "
           f"{_stamp(results, 'lift3d_itop')} by `pytest benchmarks/test_bench_lift.py --benchmark`. "
           f"Percent of joints within {_num(st.get('threshold_m') and 100 * st['threshold_m'], '.0f')} cm; "
           "a joint without an estimate counts as a miss.", "",
           "| ITOP joint | labelled keypoints, learned offsets | labelled keypoints, constant offset | bundled model, learned "
           "| bundled model, constant | bundled model with `--tta`, learned |", "|---|---|---|---|---|---|"]
    for j in joints:
        out.append(f"| {j} | " + " | ".join(_num(_get(r, c, j) and 100 * _get(r, c, j), '.1f') for c in cols) + " |")
    out.append("| **mean** | " + " | ".join(f"**{_num(_get(r, c + '_mean') and 100 * _get(r, c + '_mean'), '.1f')}**"
                                         for c in cols) + " |")
    out += _causes_table(r.get("model_causes") or {}, _num(st.get('threshold_m') and 100 * st['threshold_m'], '.0f'))
    speed = _get(results, "bench", "lift3d_speed") or {}
    out += ["", f"Lifting costs {_num(speed.get('lift_ms_per_person_1_people'))} ms for one person and "
            f"{_num(speed.get('lift_ms_per_person_4_people'))} ms per person with four "
            f"(target {_num(speed.get('target_ms_per_person'))} ms); a floor fit takes "
            f"{_num(speed.get('floor_fit_ms'))} ms and runs every {_num(speed.get('floor_refit_every_frames'))} frames "
            f"({_stamp(results, 'lift3d_speed')})."]
    return "\n".join(out)


def _causes_table(causes: dict, cm: str) -> list[str]:
    """Why the bundled model's joints miss (learned lifting), percent of frames per ITOP joint."""
    if not causes:
        return []
    names = list(next(iter(causes.values())))
    out = ["", f"Where the bundled model's joints (learned lifting) land, percent of frames: `ok` within {cm} cm; "
           "`missing` no keypoint; `other_piece` the keypoint went to another decoded person; `off_ray` a keypoint "
           f"whose viewing ray passes more than {cm} cm from the joint (the 2-D is wrong); `depth` the ray is right, "
           "the lifted point is not.", "", "| ITOP joint | " + " | ".join(names) + " |",
           "|---|" + "---|" * len(names)]
    for j, share in causes.items():
        out.append(f"| {j} | " + " | ".join(_num(100 * share[c], '.1f') for c in names) + " |")
    return out


def _decoder_table(r: dict) -> list[str]:
    ms, found = r.get("decoder_ms") or {}, r.get("decoder_people_found") or {}
    keys = sorted({k.split("_", 1)[1] for k in ms}, key=lambda k: (int(k.split("p_")[0]), k))
    out = [f"### Decoder, ms per frame (median, warm; {_stamp({'bench': r}, 'decoder_ms')})", "",
           "| people | size | reference | fine | sparse | people found (sparse) |", "|---|---|---|---|---|---|"]
    out += [f"| {k.replace('p_', ' | ')} | {_num(ms.get(f'reference_{k}'), '.2f')} | {_num(ms.get(f'fine_{k}'), '.3f')} "
            f"| {_num(ms.get(f'sparse_{k}'), '.3f')} | {found.get(f'sparse_{k}', DASH)} |" for k in keys]
    return out + [""]


def benchmarks(results: dict) -> str:
    """benchmarks/README.md: every section of results.json as a table, each with its stamp."""
    r = results.get("bench") or {}
    out = ["Written by " + BENCH + "; each table says when and where it was measured.", ""]
    if "decoder_ms" in r:
        out += _decoder_table(r)
    for section, title in SECTIONS:
        if section in r:
            out += [f"### {title} ({_stamp(results, section)})", "", "| measure | value |", "|---|---|"]
            out += [f"| {k} | {v} |" for k, v in r[section].items()] + [""]
    return "\n".join(out)


RENDERERS = {"bundled_model": bundled_model, "bundled_ap": bundled_ap, "border": border, "parity": parity,
             "highlights": highlights, "gpu": gpu, "experiment": experiment, "benchmarks": benchmarks,
             "lift3d": lift3d, "sensor_targets": sensor_targets}
