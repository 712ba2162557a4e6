import json

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
