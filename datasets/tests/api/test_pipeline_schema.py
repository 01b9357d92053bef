"""The OpenAPI description of pipeline steps says what the engine checks: the same fields, required ones and
defaults per step type; every step the engine accepts (as sent, and as it records it) fits the document, and a
step it refuses for its shape does not."""

import pytest
from openapi_schema_validator import OAS30Validator

from datasets.api import pipeline_schema
from datasets.engine import pipeline
from datasets.engine.errors import PipelineInvalid

COLUMNS = [
    {"name": "城市", "type": "string", "nullable": False},
    {"name": "温度", "type": "float", "nullable": True},
    {"name": "次数", "type": "integer", "nullable": True},
    {"name": "日期", "type": "string", "nullable": False},
]
# One of each type, as a client would send it (fields left out take their defaults).
SENT = [
    {"type": "drop_na", "columns": ["温度"]},
    {"type": "fill_na", "columns": ["次数"], "strategy": "constant", "value": 0},
    {"type": "filter", "column": "城市", "op": "in", "value": ["北京", "上海"]},
    {"type": "cast", "column": "日期", "to": "date", "strict": False},
    {"type": "normalize", "columns": ["温度"], "method": "z_score"},
    {"type": "one_hot", "columns": ["城市"], "categories": {"城市": ["北京", "上海"]}, "drop_original": False},
    {"type": "label_encode", "columns": ["城市"]},
    {"type": "deduplicate", "keep": "last"},
    {"type": "sample", "fraction": 0.5, "seed": 2**64 - 1},
    {"type": "train_test_split", "test_ratio": 0.2, "stratify": "城市"},
    {"type": "rename", "mapping": {"温度": "temperature"}},
    {"type": "drop_columns", "columns": ["次数"]},
    {"type": "select_columns", "columns": ["temperature", "城市", "split"]},
]


def step_validator() -> OAS30Validator:
    components = pipeline_schema.step_components()
    return OAS30Validator({"$ref": "#/components/schemas/PipelineStep", "components": {"schemas": components}})


def test_each_step_component_has_the_engines_fields_required_ones_and_defaults():
    components = pipeline_schema.step_components()
    mapping = components["PipelineStep"]["discriminator"]["mapping"]
    assert list(mapping) == list(pipeline.STEP_TYPES)
    for step_type, (required, optional) in pipeline.FIELDS.items():
        component = components[mapping[step_type].rpartition("/")[2]]
        assert set(component["properties"]) == {"type", *required, *optional}, step_type
        assert component["required"] == ["type", *required], step_type
        assert component["properties"]["type"]["enum"] == [step_type]
        for name, default in optional.items():
            documented = component["properties"][name]
            if default is None:
                assert documented.get("nullable") is True and "default" not in documented, (step_type, name)
            else:
                assert documented["default"] == default, (step_type, name)


def test_every_step_the_engine_accepts_fits_the_document_as_sent_and_as_recorded():
    recorded = pipeline.validate(SENT, COLUMNS)
    assert [step["type"] for step in SENT] == [step["type"] for step in recorded]
    assert {step["type"] for step in SENT} == set(pipeline.STEP_TYPES)
    validator = step_validator()
    for step in [*SENT, *recorded]:
        assert not list(validator.iter_errors(step)), step


@pytest.mark.parametrize(
    "step",
    [
        {"type": "fill_na", "columns": ["温度"]},  # no strategy
        {"type": "no_such_step"},
        {"type": "normalize", "columns": ["温度"], "method": "log"},
        {"type": "sample", "fraction": 1.5},
        {"type": "sample", "fraction": 0},
        {"type": "sample", "n": -1},
        {"type": "train_test_split", "test_ratio": 1},
        {"type": "select_columns", "columns": []},
        {"columns": ["温度"]},
    ],
)
def test_a_step_refused_for_its_shape_does_not_fit_the_document_either(step):
    with pytest.raises(PipelineInvalid):
        pipeline.validate([step], COLUMNS)
    assert list(step_validator().iter_errors(step))


def test_the_preprocess_body_and_the_lineage_point_to_the_steps():
    from incubator.tests.test_openapi import generated_schema

    schemas = generated_schema()["components"]["schemas"]
    step = {"$ref": "#/components/schemas/PipelineStep"}
    assert schemas["PreprocessInputRequest"]["properties"]["pipeline"]["items"] == step
    assert schemas["Lineage"]["properties"]["pipeline"]["items"] == step
    assert schemas["PipelineStepTrainTestSplit"]["required"] == ["type", "test_ratio"]
