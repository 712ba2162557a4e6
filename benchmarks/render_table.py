#!/usr/bin/env python3
"""Render benchmarks/results.json as the Markdown tables in benchmarks/README.md (between markers)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
START, END = "<!-- results:start -->", "<!-- results:end -->"


def tables(r: dict) -> str:
    m = r["machine"]
    out = [f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), Python {m['python']}, torch {m['torch']}, "
           f"onnxruntime {m['onnxruntime']}; `pytest benchmarks/ --benchmark`.", ""]
    if "decoder_ms" in r:
        out += ["### Decoder, ms per frame (median, warm)", "", "| people | size | reference | numba | sparse | people found (sparse) |",
                "|---|---|---|---|---|---|"]
        for c in (1, 5, 20):
            for size in ("240x320", "368x368"):
                ms = r["decoder_ms"]
                out.append(f"| {c} | {size} | {ms[f'reference_{c}p_{size}']:.2f} | {ms[f'numba_{c}p_{size}']:.3f} | "
                           f"{ms[f'sparse_{c}p_{size}']:.3f} | {r['decoder_people_found'][f'sparse_{c}p_{size}']} |")
        out.append("")
    for section, title in (("inference_cpu_ms", "CPU inference, ms per 240x320 frame"),
                           ("inference_cpu_ratio", "Speed ratios (same run)"),
                           ("ap_top_full", "AP on the held-out top-view set (people fully in frame)"),
                           ("stream_fps", "Streaming, frames per second"),
                           ("stream_latency_ms", "Streaming latency p50 / p95, ms"),
                           ("decoder_targets", "Decoder targets"), ("render", "Renderer"),
                           ("realsense", "RealSense recording (.db3) of rendered scenes, bundled int8 model"),
                           ("install_mb", "Install size, MB of site-packages")):
        if section in r:
            out += [f"### {title}", "", "| measure | value |", "|---|---|"]
            out += [f"| {k} | {v} |" for k, v in r[section].items()] + [""]
    return "\n".join(out)


def main() -> None:
    results = json.loads((HERE / "results.json").read_text())
    readme = HERE / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{START}\n{tables(results)}\n{END}{tail}")


if __name__ == "__main__":
    main()
