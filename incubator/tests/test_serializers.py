"""The query-parameter serializer base: fast paths that must not change what validation answers."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework import serializers

from incubator.serializers import IdField, QueryParamsSerializer


class Params(QueryParamsSerializer):
    tags = serializers.ListField(child=serializers.CharField(max_length=5), required=False, max_length=3)
    status = serializers.ChoiceField(choices=["a", "b"], required=False)
    owner = IdField(required=False)


def validate(data):
    params = Params(data=data)
    return (True, dict(params.validated_data)) if params.is_valid() else (False, params.errors)


def test_nothing_declared_sent_is_valid_and_empty():
    assert validate({"page": "2", "page_size": "20"}) == (True, {})


def test_bad_values_are_still_refused_field_by_field():
    ok, errors = validate({"tags": ["toolong", "ok"], "status": "c", "owner": "0"})
    assert not ok
    assert set(errors) == {"tags", "status", "owner"}
    assert 0 in errors["tags"] and 1 not in errors["tags"]


def test_shared_fields_validate_concurrently_like_one_at_a_time():
    cases = [
        {"tags": [f"t{i % 7}", "x" * (i % 8)], "status": "ab"[i % 2] if i % 5 else "zz", "owner": str(i % 4)}
        for i in range(400)
    ]
    expected = [validate(case) for case in cases]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(validate, cases)) == expected
    assert any(ok for ok, _ in expected) and any(not ok for ok, _ in expected)


def test_schema_generation_sees_every_field():
    assert set(Params().fields) == {"tags", "status", "owner"}


def test_nested_serializers_are_refused():
    with pytest.raises(TypeError, match="flat fields"):

        class Nested(QueryParamsSerializer):
            inner = Params()


def test_an_integer_past_64_bits_is_rendered_exactly_not_a_500():
    """PostgreSQL's jsonb hands 1e149 back as a 150-digit integer, which orjson refuses (found by the fuzzing
    gate: a schema registered twice, then a 500)."""
    import json as stdlib_json
    from datetime import UTC, datetime

    from incubator.renderers import dumps

    big = -13936594347160636 * 10**133
    when = datetime(2026, 11, 27, 12, 0, 1, 500, tzinfo=UTC)
    text = dumps({"n": big, "at": when, "名": "项目"})
    assert stdlib_json.loads(text) == {"n": big, "at": "2026-11-27T12:00:01Z", "名": "项目"}
    assert dumps({"at": when}) == b'{"at":"2026-11-27T12:00:01Z"}'  # the same format as orjson's


class Limits(QueryParamsSerializer):
    size = serializers.IntegerField(required=False, min_value=1, max_value=500)
    names = serializers.ListField(child=serializers.CharField(max_length=3), required=False, max_length=2)


@pytest.mark.parametrize("first, then", [("zh-hans", "en"), ("en", "zh-hans")])
def test_limit_messages_follow_each_request_language_not_the_first(first, then):
    """The fields are shared between requests (a shallow copy each time): a message DRF formatted once in the
    first request's language stayed in it for every later request."""
    from django.utils import translation

    def errors(language):
        with translation.override(language):
            params = Limits(data={"size": "999", "names": ["a", "b", "c"]})
            assert not params.is_valid()
            child = Limits(data={"names": ["abcd"]})
            assert not child.is_valid()
            return str(params.errors["size"][0]), str(params.errors["names"][0]), str(child.errors["names"][0][0])

    errors(first)
    assert errors(then) == errors(then) != errors(first)
    assert errors("en") == (
        "Ensure this value is less than or equal to 500.",
        "Ensure this field has no more than 2 elements.",
        "Ensure this field has no more than 3 characters.",
    )
    assert all(not message.isascii() for message in errors("zh-hans"))


def test_split_values_reads_double_quoted_parts_with_commas():
    from incubator.serializers import split_values

    assert split_values(["a,b", " c,", ""]) == ["a", "b", "c"]
    assert split_values(['"Revenue, 2024",region', 'x, "y,z" ']) == ["Revenue, 2024", "region", "x", "y,z"]
    assert split_values(['"say ""hi""",b']) == ['say "hi"', "b"]
    assert split_values(['a"b,c']) == ['a"b', "c"]  # a quote inside a part is just a character
    # What the csv module cannot read (a line break outside quotes) is split as it is.
    assert split_values(['a\nb,"c"']) == ["a\nb", '"c"']
