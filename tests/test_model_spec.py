import json

import onnx
import pytest

from toppose.codec.config import DecoderConfig
from toppose.model_spec import (METADATA_KEY, InputEncoding, MetadataError, ModelInput, ModelMetadata, ModelSpec,
                                metadata_from_props)
from toppose.runtime.stream import bundled_model
from toppose.skeleton import TOPVIEW


@pytest.fixture(scope="module")
def bundled_json() -> str:
    proto = onnx.load(str(bundled_model()), load_external_data=False)
    return next(p.value for p in proto.metadata_props if p.key == METADATA_KEY)


def test_the_bundled_models_description_reads_and_writes_back_unchanged(bundled_json):
    meta = ModelMetadata.from_json(bundled_json)
    assert meta.spec.encoding.kind == "depth" and meta.input_hw == (240, 320) and meta.precision == "int8"
    assert meta.decoder == DecoderConfig() and len(meta.float_nodes) == 4
    bundled = json.loads(bundled_json)
    # settings added to DecoderConfig after the file was written come back at their defaults
    added = {k: v for k, v in DecoderConfig().to_dict().items() if k not in bundled["decoder"]}
    assert set(added) == {"merge", "merge_prior", "merge_slack", "merge_single_score",
                          "merge_duplicate", "merge_drop"}
    assert json.loads(meta.to_json()) == {**bundled, "decoder": {**bundled["decoder"], **added}}


def test_a_fresh_description_round_trips_and_omits_int8_fields():
    spec = ModelSpec(arch="openpose", preprocess="rtpose", encoding=InputEncoding(kind="depth", colormap="jet"),
                     skeleton=TOPVIEW)
    meta = ModelMetadata(spec=spec, input=ModelInput(None, None), provenance={"data": [["a", 1.0]]})
    d = json.loads(meta.to_json())
    assert "calibration_frames" not in d and d["input"] == {"height": None, "width": None, "name": "image", "layout": "NCHW"}
    back = ModelMetadata.from_json(meta.to_json())
    assert back == meta and back.input_hw is None
    int8 = meta.variant("int8", calibration_frames=8, calibration_method="minmax", float_nodes=("a",))
    assert ModelMetadata.from_json(int8.to_json()) == int8 and int8.spec == spec and int8.provenance == meta.provenance


@pytest.mark.parametrize("section, key", [(None, "depth_head"), ("input", "dtype"), ("decoder", "nms"),
                                          ("spec", "modality")])
def test_an_unknown_key_is_refused_wherever_it_stands(bundled_json, section, key):
    d = json.loads(bundled_json)
    (d if section is None else d[section])[key] = 1
    with pytest.raises(MetadataError, match=f"invalid toppose metadata \\(unknown key '{key}'") as e:
        metadata_from_props({METADATA_KEY: json.dumps(d)})
    assert "\n" not in str(e.value)


def test_provenance_is_free_form_and_decoder_settings_may_be_absent(bundled_json):
    d = json.loads(bundled_json)
    d["provenance"]["anything"] = {"nested": [1, 2]}
    del d["decoder"]
    meta = metadata_from_props({METADATA_KEY: json.dumps(d)})
    assert meta.provenance["anything"] == {"nested": [1, 2]} and meta.decoder == DecoderConfig()


def test_missing_or_unreadable_descriptions(bundled_json):
    with pytest.raises(MetadataError, match="not a toppose model"):
        metadata_from_props({"other": "{}"})
    with pytest.raises(MetadataError, match="invalid toppose metadata"):
        metadata_from_props({METADATA_KEY: "{not json"})
    d = json.loads(bundled_json)
    del d["spec"]
    with pytest.raises(MetadataError, match="metadata lacks the key 'spec'"):
        metadata_from_props({METADATA_KEY: json.dumps(d)})
    d = json.loads(bundled_json)
    d["spec"]["preprocess"] = "caffe"
    with pytest.raises(MetadataError, match="unknown preprocessing 'caffe'"):
        metadata_from_props({METADATA_KEY: json.dumps(d)})
