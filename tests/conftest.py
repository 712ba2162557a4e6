import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from toppose.model_spec import METADATA_KEY
from toppose.runtime.stream import bundled_model


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def with_metadata(tmp_path):
    """``with_metadata(edit)``: a copy of the bundled model whose description ``edit(dict)`` changed
    (removed when edit is None)."""
    return lambda edit, name="m.onnx": _edited_model(tmp_path / name, edit)


def _edited_model(path, edit):
    proto = onnx.load(str(bundled_model()))
    entry = next(p for p in proto.metadata_props if p.key == METADATA_KEY)
    if edit is None:
        del proto.metadata_props[:]
    else:
        d = json.loads(entry.value)
        edit(d)
        entry.value = json.dumps(d)
    onnx.save(proto, str(path))
    return path


def run_fresh(code: str, absent: tuple[str, ...]) -> None:
    """Run ``code`` in a new interpreter, then assert no module named in ``absent`` (or below it) was imported."""
    check = (f"\nimport sys; bad = sorted(m for m in sys.modules if any(m == a or m.startswith(a + '.') "
             f"for a in {absent!r})); assert not bad, bad; print('ok')")
    res = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-1500:]


@pytest.fixture
def fresh_python():
    """``fresh_python(code, absent)``: see ``run_fresh``."""
    return run_fresh
