"""Messages a worker stores are made again in every language: nested parts too, and plain text stays as it is."""

import json

from django.utils import translation

from datasets.engine import messages
from datasets.engine.messages import Message, gettext


def test_a_formatted_message_is_made_again_in_each_language_with_its_nested_parts():
    with translation.override("en"):
        problem = gettext("Line %(row)d is not valid UTF-8 text.") % {"row": 7}
        advice = gettext("Upload CSV, TSV, JSON, JSON Lines, Parquet or Excel (.xlsx).")
        message = gettext("%(problem)s %(advice)s") % {"problem": problem, "advice": advice}
    assert isinstance(message, Message) and isinstance(message, str)
    assert message == "Line 7 is not valid UTF-8 text. Upload CSV, TSV, JSON, JSON Lines, Parquet or Excel (.xlsx)."
    chinese = messages.translations(message)["zh-hans"]
    assert chinese.startswith("第 7 行不是有效的 UTF-8 文本。") and "Excel" in chinese and "Upload" not in chinese
    assert messages.translations(message)["en"] == message
    assert json.dumps(message) == json.dumps(str(message))  # a str wherever a str goes


def test_plain_text_has_no_translations_and_is_read_as_it_is():
    assert messages.translations("made by hand") == {}
    assert messages.translations(gettext("The JSON array is not closed.")[:10]) == {}  # slicing gives a plain str
    with translation.override("zh-hans"):
        assert messages.localized("stored", {}) == "stored"
        assert messages.localized("stored", {"en": "English"}) == "stored"  # no text in the reader's language
        assert messages.localized("stored", {"en": "English", "zh-hans": "中文"}) == "中文"


def test_a_message_without_parameters_keeps_percent_signs_of_its_text():
    message = Message("100% 完成", "100% done")
    assert message.render("en") == "100% done"


def test_positional_and_single_parameters_are_made_again_too():
    with translation.override("en"):
        closed = gettext("The JSON array is not closed.")
        pair = Message(f"{closed} / 3", "%s / %s", (closed, 3))
        single = Message("Line 4 is not valid JSON.", "Line %(row)d is not valid JSON.") % {"row": 4}
    assert pair.render("zh-hans") == f"{messages.translations(closed)['zh-hans']} / 3"
    assert "JSON" in pair.render("zh-hans") and "not closed" not in pair.render("zh-hans")
    assert single.render("zh-hans") == "第 4 行不是有效的 JSON。"
