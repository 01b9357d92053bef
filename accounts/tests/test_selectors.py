"""Reads on accounts, against the database: finding the account a login names."""

import pytest

from accounts.selectors import user_find_by_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def lilei(make_user):
    make_user(username="hanmeimei", email="han@example.com")
    return make_user(username="LiLei", email="Li.Lei@example.com")


@pytest.mark.parametrize(
    "identifier",
    [
        "LiLei",
        "lilei",
        "LILEI",
        pytest.param("  lilei\t", id="padded"),
        pytest.param("ＬｉＬｅｉ", id="fullwidth"),
        "li.lei@example.com",
        "LI.LEI@EXAMPLE.COM",
        " Li.Lei@example.com ",
    ],
)
def test_finds_the_account_by_username_or_email_any_case(lilei, identifier):
    assert user_find_by_login(identifier=identifier) == lilei


@pytest.mark.parametrize("identifier", ["", "   ", "lile", "lileii", "li.lei@example.org", "lilei@example.com"])
def test_finds_nothing_for_anything_else(lilei, identifier):
    assert user_find_by_login(identifier=identifier) is None


def test_an_at_sign_means_an_email(make_user):
    """An identifier with "@" is looked up as an email only, even if some username has that spelling."""
    make_user(username="odd@name", email="someone@example.com")
    assert user_find_by_login(identifier="odd@name") is None
    assert user_find_by_login(identifier="someone@example.com").username == "odd@name"


def test_a_username_is_not_found_by_its_email_local_part(make_user):
    user = make_user(username="alpha", email="beta@example.com")
    assert user_find_by_login(identifier="beta") is None
    assert user_find_by_login(identifier="alpha") == user
