import json

import pytest

from toppose.codec.config import DecoderConfig
from toppose.model_spec import InputEncoding, ModelSpec
from toppose.records import known_fields
from toppose.skeleton import TOPVIEW, Skeleton
from toppose.train.config import TrainConfig

EXAMPLES = [(ModelSpec, ModelSpec(arch="lite", encoding=InputEncoding(kind="depth"), skeleton=TOPVIEW)),
            (Skeleton, TOPVIEW), (DecoderConfig, DecoderConfig(min_parts=5)), (TrainConfig, TrainConfig(data=(("d", 1.0),), out="o"))]


@pytest.mark.parametrize("cls, example", EXAMPLES, ids=lambda x: getattr(x, "__name__", ""))
def test_every_from_dict_reads_its_own_json_and_refuses_an_unknown_key(cls, example):
    d = json.loads(json.dumps(example.to_dict()))
    assert cls.from_dict(d) == example
    with pytest.raises(ValueError, match="unknown key 'gamma'") as e:
        cls.from_dict({**d, "gamma": 1.0})
    assert "\n" not in str(e.value)


def test_missing_keys_take_defaults_only_where_the_class_has_them():
    assert DecoderConfig.from_dict({}) == DecoderConfig()
    assert DecoderConfig.from_dict({"min_parts": 4}) == DecoderConfig(min_parts=4)
    spec = ModelSpec(arch="lite").to_dict()
    del spec["preprocess"]  # has a default, but a model file must say it
    with pytest.raises(ValueError, match="model description lacks the key 'preprocess'"):
        ModelSpec.from_dict(spec)
    with pytest.raises(ValueError, match="skeleton lacks the key 'flip'"):
        Skeleton.from_dict({k: v for k, v in TOPVIEW.to_dict().items() if k != "flip"})


def test_an_unknown_key_in_a_nested_section_is_named():
    spec = ModelSpec(arch="lite").to_dict()
    spec["encoding"]["gamma"] = 2.2
    with pytest.raises(ValueError, match="unknown key 'gamma' in encoding"):
        ModelSpec.from_dict(spec)


def test_non_objects_are_refused():
    with pytest.raises(ValueError, match="decoder settings must be a JSON object, got list"):
        DecoderConfig.from_dict([1, 2])
    with pytest.raises(ValueError, match="config must be a JSON object"):
        known_fields(TrainConfig, "x", "config")
