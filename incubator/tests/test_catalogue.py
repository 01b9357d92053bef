"""The zh-hans catalogue is complete: every message the code marks for translation has a Chinese text that
is compiled (a wrapped msgid once slipped through scripts/translate_zh_hans.py and reached users in English)."""

import re
from pathlib import Path

from django.utils import translation

PO = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
ENTRY = re.compile(r'^(#,[^\n]*\n)?msgid ((?:"[^\n]*"\n)+)msgstr ((?:"[^\n]*"\n)+)', re.M)


def _text(quoted: str) -> str:
    return "".join(line[1:-1] for line in quoted.splitlines()).replace('\\"', '"').replace("\\n", "\n")


def _entries() -> list[tuple[str, str, str]]:
    return [(flags or "", _text(msgid), _text(msgstr)) for flags, msgid, msgstr in ENTRY.findall(PO.read_text())]


def test_every_message_has_a_compiled_chinese_text():
    entries = [entry for entry in _entries() if entry[1]]
    assert len(entries) > 250
    untranslated = [msgid for _flags, msgid, msgstr in entries if not msgstr]
    fuzzy = [msgid for flags, msgid, _msgstr in entries if "fuzzy" in flags]
    assert not untranslated and not fuzzy, (untranslated, fuzzy)
    wrapped = [(msgid, msgstr) for _flags, msgid, msgstr in entries if len(msgid) > 70 and "%" not in msgid]
    assert wrapped, "the catalogue has long (wrapped) messages: check one of them is compiled"
    with translation.override("zh-hans"):
        for msgid, msgstr in wrapped[:20]:
            assert translation.gettext(msgid) == msgstr, msgid
