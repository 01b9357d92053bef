"""Password rules with messages in every language offered.

Django 5.2 changed the msgid of MinimumLengthValidator's error (`%d` where it was `%(min_length)d`), and its
Simplified Chinese catalogue still has only the old one: a Chinese registration was told "This password is too
short" in English, beside the other rules' Chinese. This one says it with a message of our own catalogue.
"""

from django.contrib.auth import password_validation
from django.utils.translation import gettext


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    def get_error_message(self) -> str:
        return gettext("This password is too short: it must contain at least %(min_length)d characters.") % {
            "min_length": self.min_length
        }
