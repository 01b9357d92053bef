"""Messages that a worker stores and many people read later, each in their own language.

A request's error is answered in that request's language. A version's failure is different: the worker writes it
once (in the language of the request that made the version), and every member reads it later with their own
Accept-Language. So what the engine and the services store is a `Message`: the text in the active language, as
any str, which also remembers its msgid and parameters, so that `translations()` can make it again in every
language of settings.LANGUAGES. Only django.utils.translation: the engine's process loads no apps.
"""

from typing import Any

from django.utils import translation


class Message(str):
    """The text in the language active when it was made; `msgid` and `params` make it again in another. Formatting
    (`%`) keeps them; anything else (slicing, concatenation) gives a plain str, which reads the same in every
    language."""

    msgid: str
    params: Any

    def __new__(cls, text: str, msgid: str, params: Any = None) -> "Message":
        message = super().__new__(cls, text)
        message.msgid = msgid
        message.params = params
        return message

    def __mod__(self, params: Any) -> "Message":
        return Message(str.__mod__(str(self), params), self.msgid, params)

    def render(self, language: str) -> str:
        with translation.override(language):
            template = translation.gettext(self.msgid)
        params = self.params
        if params is None:
            return template
        if isinstance(params, dict):
            return template % {key: _render(value, language) for key, value in params.items()}
        if isinstance(params, tuple):
            return template % tuple(_render(value, language) for value in params)
        return template % _render(params, language)


def gettext(msgid: str) -> Message:
    """django.utils.translation.gettext, as a Message."""
    return Message(translation.gettext(msgid), msgid)


def _render(value: Any, language: str) -> Any:
    return value.render(language) if isinstance(value, Message) else value


def translations(text: str, languages: list[str] | None = None) -> dict[str, str]:
    """{language code: the text in it} for every language of settings.LANGUAGES (or `languages`); {} for a plain
    str, whose language is unknown (readers then get it as it is)."""
    if not isinstance(text, Message):
        return {}
    if languages is None:
        from django.conf import settings

        languages = [code for code, _name in settings.LANGUAGES]
    return {language: text.render(language) for language in languages}


def localized(text: str, stored: dict[str, str] | None) -> str:
    """The stored translation for the active language, else `text` (stored before translations were, or made in a
    language that is no longer offered)."""
    if stored:
        language = translation.get_language()
        if language in stored:
            return stored[language]
    return text
