"""Every write on accounts, against the database: registration, login and its lockout, profile, password, token
refresh and logout, and the admin's own writes with their outbox events; errors by exact class and error_code,
nothing half-written after one."""

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import services
from accounts.errors import AccountConflict, InvalidCredentials, TokenInvalid, WrongPassword
from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from accounts.tokens import session_revoked_key, token_user_id
from incubator.batch import count_and_read
from incubator.errors import InvalidInput, TooManyAttempts
from incubator.events.models import Event

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Brand-New-Pass-2026!"


def expect_error(error_class: type, error_code: str, call: Any, **kwargs: Any) -> Any:
    """`call(**kwargs)` raises exactly `error_class` with `error_code`, and leaves users and events as they were."""
    users = list(User.objects.order_by("pk").values())
    events = Event.objects.count()
    with pytest.raises(error_class) as caught:
        call(**kwargs)
    assert type(caught.value) is error_class
    assert caught.value.error_code == error_code
    assert list(User.objects.order_by("pk").values()) == users
    assert Event.objects.count() == events
    return caught.value


def the_event(type_: str) -> Event:
    events = list(Event.objects.filter(type=type_))
    assert len(events) == 1, [e.type for e in Event.objects.all()]
    return events[0]


def generation(user: User) -> int:
    return User.objects.values_list("token_generation", flat=True).get(pk=user.pk)


def live_tokens(user: User) -> int:
    return OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False).count()


def login(identifier: str, password: str = PASSWORD, address: str = "10.0.0.1") -> Any:
    return services.user_login(identifier=identifier, password=password, address=address)


# --- registration -------------------------------------------------------------------------------------------


def test_register_normalizes_and_hashes():
    user = services.user_register(email="  Li.Lei@Example.COM ", username=" ｌｉｌｅｉ ", password="Zhong-Guo-2026!")
    user.refresh_from_db()
    assert (user.email, user.username, user.display_name) == ("Li.Lei@example.com", "lilei", "lilei")
    assert user.check_password("Zhong-Guo-2026!") and user.password != "Zhong-Guo-2026!"
    assert (user.role, user.is_staff, user.is_active) == ("member", False, True)
    named = services.user_register(
        email="h@example.com", username="han", password="Zhong-Guo-2026!", display_name=" 韩梅梅 "
    )
    assert named.display_name == "韩梅梅"


@pytest.mark.parametrize(
    ("email", "username", "field"),
    [
        ("LI.LEI@example.com", "other", "email"),
        ("other@example.com", "LiLei", "username"),
        # NFKC: fullwidth letters are the same name
        pytest.param("other@example.com", "ＬＩＬＥＩ", "username", id="fullwidth-username"),
    ],
)
def test_register_conflicts_case_insensitively(email, username, field):
    services.user_register(email="li.lei@example.com", username="lilei", password="Zhong-Guo-2026!")
    error = expect_error(
        AccountConflict, "CONFLICT", services.user_register, email=email, username=username, password="Zhong-Guo-2026!"
    )
    assert error.details == {"field": field}


@pytest.mark.parametrize("password", ["123", "password", "12345678901", "lilei2026"])
def test_register_applies_the_password_validators(password):
    error = expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.user_register,
        email="l@example.com",
        username="lilei",
        password=password,
    )
    assert error.details["field"] == "password"


@pytest.mark.parametrize(
    "overrides", [{"email": "not-an-email"}, {"display_name": "x" * 101}, {"username": "bad name!"}]
)
def test_register_validates_the_model_and_writes_nothing(overrides):
    data = {"email": "l@example.com", "username": "lilei", "password": "Zhong-Guo-2026!", **overrides}
    with pytest.raises((InvalidInput, DjangoValidationError)):
        services.user_register(**data)
    assert not User.objects.exists()


def test_register_invalid_data_is_invalid_input():
    error = expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.user_register,
        email="not-an-email",
        username="lilei",
        password="Zhong-Guo-2026!",
    )
    assert error.details["field"] == "email"


# --- login --------------------------------------------------------------------------------------------------


def test_login_by_email_or_username_any_case(user):
    for identifier in (user.email.upper(), user.username, f"  {user.username.upper()} "):
        found, refresh = login(identifier)
        assert found == user and token_user_id(refresh) == user.id
    user.refresh_from_db()
    assert user.last_login is not None


@pytest.mark.parametrize("case", ["wrong password", "unknown account", "inactive account"])
def test_login_refusals_are_one_error(make_user, case):
    user = make_user(is_active=case != "inactive account")
    identifier = "nobody@example.com" if case == "unknown account" else user.email
    password = "wrong" if case == "wrong password" else PASSWORD
    expect_error(InvalidCredentials, "AUTHENTICATION_FAILED", login, identifier=identifier, password=password)


def test_an_account_is_locked_after_its_attempts_whatever_the_password(user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        expect_error(InvalidCredentials, "AUTHENTICATION_FAILED", login, identifier=user.email, password="wrong")
    error = expect_error(TooManyAttempts, "RATE_LIMITED", login, identifier=user.email)
    assert error.details == {"retry_after": settings.LOGIN_FAILURE_WINDOW_SECONDS}
    assert error.wait == settings.LOGIN_FAILURE_WINDOW_SECONDS


def test_the_username_and_the_email_share_one_counter(user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for identifier in (user.email, user.username.upper(), user.email.upper()):
        with pytest.raises(InvalidCredentials):
            login(identifier, password="wrong")
    with pytest.raises(TooManyAttempts):
        login(user.username)


def test_a_success_resets_the_account_counter(user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for _round in range(2):
        for _ in range(2):
            with pytest.raises(InvalidCredentials):
                login(user.email, password="wrong")
        assert login(user.email)[0] == user


def test_an_unknown_identifier_is_locked_too(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            login("ghost@example.com", password="x")
    with pytest.raises(TooManyAttempts):
        login("GHOST@example.com", password="x")


def test_an_address_past_its_failures_may_still_log_in_to_a_fresh_account(make_user, settings):
    """An office behind one NAT: failures from the address lock out accounts that were tried, not others."""
    settings.LOGIN_FAILURES_PER_ADDRESS = 2
    tried, other, fresh = make_user(), make_user(), make_user()
    for victim in (tried, other):
        with pytest.raises(InvalidCredentials):
            login(victim.email, password="wrong")
    assert login(fresh.email)[0] == fresh
    with pytest.raises(TooManyAttempts):
        login(tried.email)
    assert login(tried.email, address="10.9.9.9")[0] == tried  # from elsewhere, the account is fine


# --- profile and password -----------------------------------------------------------------------------------


def test_update_profile_changes_only_profile_fields(user):
    email, role = user.email, user.role
    services.user_update_profile(
        user=user,
        data={
            "display_name": "韩梅梅",
            "bio": "机器学习",
            "locale": "en",
            "avatar_url": "https://e.com/a.png",
            "email": "x@y.cn",
        },
    )
    user.refresh_from_db()
    assert (user.display_name, user.bio, user.locale, user.avatar_url) == (
        "韩梅梅",
        "机器学习",
        "en",
        "https://e.com/a.png",
    )
    assert (user.email, user.role) == (email, role)


def test_update_profile_writes_only_the_given_fields(user):
    User.objects.filter(pk=user.pk).update(bio="written elsewhere")
    services.user_update_profile(user=user, data={"display_name": "李雷"})
    user.refresh_from_db()
    assert user.display_name == "李雷" and user.bio == "written elsewhere"


@pytest.mark.parametrize("data", [{"locale": "fr"}, {"avatar_url": "javascript:alert(1)"}, {"display_name": "x" * 101}])
def test_update_profile_refuses_bad_values_and_writes_nothing(user, data):
    before = User.objects.values().get(pk=user.pk)
    with pytest.raises((InvalidInput, DjangoValidationError)):
        services.user_update_profile(user=user, data=data)
    assert User.objects.values().get(pk=user.pk) == before


def test_update_profile_bad_value_is_invalid_input(user):
    error = expect_error(InvalidInput, "INVALID_INPUT", services.user_update_profile, user=user, data={"locale": "fr"})
    assert error.details["field"] == "locale"


def test_update_profile_bio_too_long_is_invalid_input(user):
    expect_error(InvalidInput, "INVALID_INPUT", services.user_update_profile, user=user, data={"bio": "长" * 2001})


def stricter_profile(actor: User) -> None:
    """Version 2 of `user.profile`, where `company` is a string (the subject set to NONE: BACKWARD refuses it)."""
    from schema_registry.selectors import subject_get
    from schema_registry.services import schema_version_register, subject_update

    subject = subject_update(subject=subject_get(name="user.profile"), actor=actor, data={"compatibility": "NONE"})
    schema_version_register(
        subject=subject, schema={"type": "object", "properties": {"company": {"type": "string"}}}, actor=actor
    )


def test_update_profile_validates_and_stamps_the_profile(user):
    services.user_update_profile(user=user, data={"profile": {"company": 1, "城市": "北京"}})
    user.refresh_from_db()
    assert (user.profile, user.schema_version) == ({"company": 1, "城市": "北京"}, 1)
    stricter_profile(UserFactory(is_staff=True))
    error = expect_error(
        InvalidInput, "INVALID_INPUT", services.user_update_profile, user=user, data={"profile": {"company": 2}}
    )
    assert error.details["field"] == "profile.company" and list(error.details["errors"]) == ["profile.company"]
    expect_error(InvalidInput, "INVALID_INPUT", services.user_update_profile, user=user, data={"profile": [1]})
    # Unchanged: not checked again, not stamped again.
    services.user_update_profile(user=user, data={"profile": {"company": 1, "城市": "北京"}, "bio": "简介"})
    user.refresh_from_db()
    assert (user.schema_version, user.bio) == (1, "简介")
    services.user_update_profile(user=user, data={"profile": {"company": "协和"}})
    user.refresh_from_db()
    assert (user.profile, user.schema_version) == ({"company": "协和"}, 2)
    services.user_update_profile(user=user, data={"profile": {"company": "协和", "verified": 1}})
    services.user_update_profile(user=user, data={"profile": {"company": "协和", "verified": True}})
    user.refresh_from_db()
    assert user.profile["verified"] is True  # 1 == True in Python, not in JSON


def test_change_password_ends_every_session(user):
    _, first = login(user.email)
    _, second = login(user.username)
    before = generation(user)
    services.user_change_password(user=user, current_password=PASSWORD, new_password=NEW_PASSWORD)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert live_tokens(user) == 0 and generation(user) == before + 1
    for refresh in (first, second):
        with pytest.raises(TokenInvalid):
            services.token_refresh(refresh=str(refresh))
    assert login(user.email, password=NEW_PASSWORD)[0] == user


def test_change_password_refusals(user):
    error = expect_error(
        WrongPassword,
        "INVALID_INPUT",
        services.user_change_password,
        user=user,
        current_password="nope",
        new_password=NEW_PASSWORD,
    )
    assert error.details == {"field": "current_password"}
    error = expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.user_change_password,
        user=user,
        current_password=PASSWORD,
        new_password="123",
    )
    assert error.details["field"] == "new_password"
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --- tokens -------------------------------------------------------------------------------------------------


def test_token_refresh_rotates_within_the_session(user):
    _, refresh = login(user.email)
    same, rotated = services.token_refresh(refresh=str(refresh))
    assert same == user and str(rotated) != str(refresh)
    assert rotated["sid"] == refresh["sid"]
    expect_error(TokenInvalid, "TOKEN_INVALID", services.token_refresh, refresh=str(refresh))  # spent
    assert services.token_refresh(refresh=str(rotated))[0] == user


@pytest.mark.parametrize("raw", ["", "garbage", "a.b.c", None, 42])
def test_token_refresh_refuses_what_is_not_a_token(raw):
    expect_error(TokenInvalid, "TOKEN_INVALID", services.token_refresh, refresh=raw)


def test_token_refresh_refuses_a_deactivated_user(user):
    _, refresh = login(user.email)
    User.objects.filter(pk=user.pk).update(is_active=False)
    expect_error(TokenInvalid, "TOKEN_INVALID", services.token_refresh, refresh=str(refresh))


def test_logout_spends_the_refresh_token(user):
    _, refresh = login(user.email)
    services.user_logout(refresh=str(refresh))
    expect_error(TokenInvalid, "TOKEN_INVALID", services.token_refresh, refresh=str(refresh))
    expect_error(TokenInvalid, "TOKEN_INVALID", services.user_logout, refresh=str(refresh))
    expect_error(TokenInvalid, "TOKEN_INVALID", services.user_logout, refresh="garbage")


def test_logout_ends_only_its_own_session(user):
    _, mine = login(user.email)
    _, other = login(user.email)
    services.user_logout(refresh=str(mine))
    assert services.token_refresh(refresh=str(other))[0] == user
    # The session's mark, which authentication reads to refuse its access tokens at once.
    keys = [session_revoked_key(mine["sid"]), session_revoked_key(other["sid"])]
    assert count_and_read([], keys)[1] == ["1", None]


# --- admin writes -------------------------------------------------------------------------------------------


@pytest.fixture
def admin():
    return UserFactory(is_staff=True)


def test_user_create_records_the_event(admin):
    user = services.user_create(
        actor=admin, username=" mentor1 ", email="Mentor1@EXAMPLE.com", password=NEW_PASSWORD, role="mentor"
    )
    user.refresh_from_db()
    assert (user.username, user.email, user.display_name, user.role) == (
        "mentor1",
        "Mentor1@example.com",
        "mentor1",
        "mentor",
    )
    assert user.check_password(NEW_PASSWORD) and not user.is_staff
    event = the_event("user.created")
    assert (event.topic, event.subject_type, event.subject_id, event.actor_id) == (
        f"user:{user.id}",
        "user",
        str(user.id),
        admin.id,
    )
    assert event.payload == {
        "id": user.id,
        "username": "mentor1",
        "display_name": "mentor1",
        "role": "mentor",
        "is_active": True,
    }


def test_user_create_trims_the_display_name(admin):
    user = services.user_create(
        actor=admin, username="m2", email="m2@example.com", password=NEW_PASSWORD, display_name=" 导师 "
    )
    assert user.display_name == "导师" and the_event("user.created").payload["display_name"] == "导师"


def test_user_create_staff_shows_as_admin_and_without_a_password(admin):
    user = services.user_create(actor=admin, username="ops", email="ops@example.com", password=None, is_staff=True)
    user.refresh_from_db()
    assert user.is_staff and not user.has_usable_password()
    assert the_event("user.created").payload["role"] == "admin"


@pytest.mark.parametrize(
    ("username", "email", "error_class", "code", "field"),
    [
        ("taken", "new@example.com", AccountConflict, "CONFLICT", "username"),
        ("new", "TAKEN@example.com", AccountConflict, "CONFLICT", "email"),
        ("bad name!", "new@example.com", InvalidInput, "INVALID_INPUT", "username"),
        ("new", "not-an-email", InvalidInput, "INVALID_INPUT", "email"),
    ],
)
def test_user_create_refusals(admin, username, email, error_class, code, field):
    UserFactory(username="Taken", email="taken@example.com")
    error = expect_error(
        error_class, code, services.user_create, actor=admin, username=username, email=email, password=NEW_PASSWORD
    )
    assert error.details["field"] == field


def test_user_create_weak_password(admin):
    error = expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.user_create,
        actor=admin,
        username="n",
        email="n@example.com",
        password="1",
    )
    assert error.details["field"] == "password"


def test_user_update_changes_fields_and_records_what_changed(admin, user):
    group = Group.objects.create(name="评审")
    updated = services.user_update(
        user=user,
        actor=admin,
        data={"display_name": "新名字", "role": "mentor", "bio": user.bio, "groups": [group]},
    )
    assert updated.display_name == "新名字"
    user.refresh_from_db()
    assert (user.display_name, user.role) == ("新名字", "mentor")
    assert list(user.groups.all()) == [group]
    event = the_event("user.updated")
    assert event.payload["changed"] == ["display_name", "role", "groups"]
    assert event.payload["role"] == "mentor" and event.actor_id == admin.id and event.topic == f"user:{user.id}"


def test_user_update_without_a_change_records_nothing(admin, user):
    services.user_update(user=user, actor=admin, data={"display_name": user.display_name, "groups": []})
    assert not Event.objects.exists()


def test_deactivating_a_user_ends_their_sessions(admin, user):
    _, refresh = login(user.email)
    before = generation(user)
    services.user_update(user=user, actor=admin, data={"is_active": False})
    assert live_tokens(user) == 0 and generation(user) == before + 1
    assert the_event("user.updated").payload["is_active"] is False
    expect_error(TokenInvalid, "TOKEN_INVALID", services.token_refresh, refresh=str(refresh))


def test_reactivating_a_user_keeps_their_tokens(admin, user):
    User.objects.filter(pk=user.pk).update(is_active=False)
    before = generation(user)
    services.user_update(user=user, actor=admin, data={"is_active": True})
    assert generation(user) == before
    assert login(user.email)[0] == user


def test_user_update_refuses_bad_values(admin, user):
    error = expect_error(
        InvalidInput, "INVALID_INPUT", services.user_update, user=user, actor=admin, data={"email": "x"}
    )
    assert error.details["field"] == "email"
    assert not user.groups.exists()


def test_user_update_validates_and_stamps_the_profile(admin, user):
    stricter_profile(admin)
    error = expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.user_update,
        user=user,
        actor=admin,
        data={"display_name": "新名字", "profile": {"company": 1}},
    )
    assert error.details["field"] == "profile.company"
    services.user_update(user=user, actor=admin, data={"display_name": "新名字", "profile": {"company": "协和"}})
    user.refresh_from_db()
    assert (user.display_name, user.profile, user.schema_version) == ("新名字", {"company": "协和"}, 2)
    assert the_event("user.updated").payload["changed"] == ["display_name", "profile"]
    services.user_update(user=user, actor=admin, data={"profile": {"company": "协和"}})  # unchanged
    assert Event.objects.filter(type="user.updated").count() == 1
    # 1 and true are equal in Python, not in JSON: the change is made (and checked).
    User.objects.filter(pk=user.pk).update(profile={"verified": 1})
    services.user_update(user=user, actor=admin, data={"profile": {"verified": True}})
    user.refresh_from_db()
    assert user.profile["verified"] is True and Event.objects.filter(type="user.updated").count() == 2


def test_user_update_to_a_taken_email_is_a_conflict(admin, user):
    UserFactory(email="taken@example.com")
    error = expect_error(
        AccountConflict, "CONFLICT", services.user_update, user=user, actor=admin, data={"email": "TAKEN@example.com"}
    )
    assert error.details == {"field": "email"}


def test_user_update_to_a_taken_email_writes_nothing(admin, user):
    UserFactory(email="taken@example.com")
    users = list(User.objects.order_by("pk").values())
    with pytest.raises((AccountConflict, InvalidInput)):
        services.user_update(user=user, actor=admin, data={"email": "TAKEN@example.com"})
    assert list(User.objects.order_by("pk").values()) == users and not Event.objects.exists()


def test_user_set_password_ends_every_session(admin, user):
    login(user.email)
    services.user_set_password(user=user, actor=admin, password=NEW_PASSWORD)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and live_tokens(user) == 0
    assert the_event("user.updated").payload["changed"] == ["password"]
    services.user_set_password(user=user, actor=admin, password=None)
    user.refresh_from_db()
    assert not user.has_usable_password()


def test_user_set_password_weak(admin, user):
    error = expect_error(
        InvalidInput, "INVALID_INPUT", services.user_set_password, user=user, actor=admin, password="1"
    )
    assert error.details["field"] == "password"


def test_user_sessions_end_counts_the_sessions_it_ended(user):
    login(user.email)
    login(user.email)
    before = generation(user)
    assert services.user_sessions_end(user=user) == 2
    assert live_tokens(user) == 0 and BlacklistedToken.objects.count() == 2
    assert services.user_sessions_end(user=user) == 0
    assert generation(user) == before + 2


# --- behaviours found by mutation testing (make mutation) ---------------------------------------------------


def test_a_refresh_token_without_its_outstanding_row_is_spent_all_the_same(user):
    """A token whose OutstandingToken row is gone (flushed, or issued before the blacklist) is recorded when
    spent, so it cannot be spent twice."""
    _, refresh = login(user.email)
    OutstandingToken.objects.all().delete()
    assert services.token_refresh(refresh=str(refresh))[0] == user
    row = OutstandingToken.objects.get(jti=refresh["jti"])
    assert (row.user_id, row.token) == (user.id, str(refresh))
    assert row.expires_at.timestamp() == refresh["exp"] and row.created_at is not None
    assert BlacklistedToken.objects.filter(token=row).exists()
    expect_error(TokenInvalid, "TOKEN_INVALID", services.token_refresh, refresh=str(refresh))


def test_only_failures_count_against_an_address(user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 1
    with pytest.raises(InvalidCredentials):
        login(user.email, password="wrong", address="10.0.0.1")
    # A second attempt on the account, from an address with no failures: not locked out.
    assert login(user.email, address="10.0.0.2")[0] == user


def test_a_password_like_the_account_is_refused_everywhere(admin, user):
    like_the_email = user.email
    error = expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.user_change_password,
        user=user,
        current_password=PASSWORD,
        new_password=like_the_email,
    )
    assert error.details["field"] == "new_password"
    error = expect_error(
        InvalidInput, "INVALID_INPUT", services.user_set_password, user=user, actor=admin, password=like_the_email
    )
    assert error.details["field"] == "password"
    error = expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.user_create,
        actor=admin,
        username="zhangwei",
        email="zhangwei@example.com",
        password="zhangwei@example.com",
    )
    assert error.details["field"] == "password"


def test_user_update_with_the_same_groups_records_nothing(admin, user):
    group = Group.objects.create(name="评审")
    user.groups.add(group)
    services.user_update(user=user, actor=admin, data={"groups": [group]})
    assert not Event.objects.exists()
    services.user_update(user=user, actor=admin, data={"groups": []})
    assert the_event("user.updated").payload["changed"] == ["groups"] and not user.groups.exists()
