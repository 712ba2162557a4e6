#!/usr/bin/env python3
"""Fill the results blocks of README.md and benchmarks/README.md from the results files.

A block is ``<!-- results:NAME -->`` ... ``<!-- /results -->``; what stands between the markers
is rewritten by NAME's renderer in benchmarks/blocks.py from the results files below, never
typed by hand. ``python benchmarks/render_readme.py`` rewrites both READMEs; ``--check`` only
says which would change (exit 1), as the tests do.

Results files and the commands that write them:
- benchmarks/results.json: ``pytest benchmarks/ --benchmark`` (one file, section by section);
- benchmarks/results_gpu.json: ``python scripts/gpu_checks.py --out benchmarks/results_gpu.json``;
- benchmarks/results_experiment.json: ``python scripts/experiment.py ... --results benchmarks/results_experiment.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.blocks import RENDERERS  # noqa: E402

RESULT_FILES = {"bench": HERE / "results.json", "gpu": HERE / "results_gpu.json",
                "experiment": HERE / "results_experiment.json"}
READMES = (ROOT / "README.md", HERE / "README.md")
BLOCK = re.compile(r"(<!-- results:([\w-]+) -->\n)(.*?)(<!-- /results -->)", re.S)


class RenderError(ValueError):
    """A README names a block no renderer knows or holds one twice, or a results file is unreadable."""


def load_results(files: dict[str, Path] = RESULT_FILES) -> dict[str, dict]:
    """{source name: parsed results file} ({} for a file not written yet)."""
    out = {}
    for name, path in files.items():
        try:
            out[name] = json.loads(path.read_text()) if path.is_file() else {}
        except json.JSONDecodeError as e:
            raise RenderError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    return out


def blocks(text: str) -> list[tuple[str, str]]:
    """[(block name, block body)] in the order they appear."""
    return [(m[2], m[3]) for m in BLOCK.finditer(text)]


def render_text(text: str, results: dict[str, dict], where: str = "README") -> str:
    """``text`` with every results block rewritten from ``results``."""
    names = [name for name, _ in blocks(text)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RenderError(f"{where}: results block {twice[0]!r} appears {names.count(twice[0])} times (once is enough)")

    def fill(m: re.Match) -> str:
        if m[2] not in RENDERERS:
            raise RenderError(f"{where}: unknown results block {m[2]!r} (known: {', '.join(sorted(RENDERERS))})")
        return f"{m[1]}{RENDERERS[m[2]](results).rstrip()}\n{m[4]}"
    return BLOCK.sub(fill, text)


def _leaves(obj, strings: list[str], numbers: list[float]) -> None:
    if isinstance(obj, dict):
        strings.extend(map(str, obj))
        for v in obj.values():
            _leaves(v, strings, numbers)
    elif isinstance(obj, list):
        for v in obj:
            _leaves(v, strings, numbers)
    elif isinstance(obj, str):
        strings.append(obj)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        numbers.append(float(obj))


def _backed(token: str, numbers: list[float]) -> bool:
    """Whether a number as printed (maybe rounded, maybe a percentage) is one of ``numbers``."""
    n = float(token.replace(",", ""))
    half = 0.5 * 10.0 ** -len(token.partition(".")[2]) + 1e-9
    return any(abs(v - n) <= half or abs(100 * v - n) <= half for v in numbers)


def unbacked_figures(text: str, results: dict[str, dict]) -> list[str]:
    """Figures inside results blocks of ``text`` that no results file holds (should be [])."""
    strings: list[str] = []
    numbers: list[float] = []
    _leaves(results, strings, numbers)
    bad = []
    for name, body in blocks(text):
        for word in re.findall(r"[^\s|`(),;:]+", body):
            if any(word.strip(".") in s for s in strings):  # file names, hashes, dates, keys such as 240x320
                continue
            bad += [f"{name}: {t} (in {word!r})" for t in re.findall(r"(?<![A-Za-z_\d.])\d[\d,]*(?:\.\d+)?", word)
                    if not _backed(t.rstrip(","), numbers)]
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a README is out of date")
    args = ap.parse_args(argv)
    try:
        results = load_results()
        stale = []
        for readme in READMES:
            text = readme.read_text()
            new = render_text(text, results, str(readme.relative_to(ROOT)))
            for figure in unbacked_figures(new, results):
                print(f"{readme.relative_to(ROOT)}: a figure no results file holds: {figure}", file=sys.stderr)
            if new != text:
                stale.append(readme.relative_to(ROOT))
                if not args.check:
                    tmp = readme.with_suffix(".md.tmp")
                    tmp.write_text(new)
                    tmp.replace(readme)
    except RenderError as e:
        print(e, file=sys.stderr)
        return 1
    for path in stale:
        print(f"{path}: {'out of date (run python benchmarks/render_readme.py)' if args.check else 'rewritten'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
