"""Registration, login, refresh rotation, logout, expiry, profile and password."""

from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    data = {"email": "Li.Lei@Example.com", "username": "lilei", "password": "Zhong-Guo-2026!", "display_name": "李雷"}
    data.update({key: value for key, value in overrides.items() if not key.startswith("HTTP_")})
    extra = {key: value for key, value in overrides.items() if key.startswith("HTTP_")}
    return client.post("/api/v1/users/register", data, format="json", **extra)


def login(client, **data):
    return client.post("/api/v1/users/login", data, format="json")


def test_register_returns_the_user(api_client):
    response = register(api_client)
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "lilei" and body["display_name"] == "李雷" and body["role"] == "member"
    assert "password" not in body
    assert User.objects.get(username="lilei").check_password("Zhong-Guo-2026!")


@pytest.mark.parametrize(("sent", "locale"), [("en-US,en;q=0.9", "en"), ("zh-CN", "zh-hans"), ("fr", "zh-hans")])
def test_a_new_account_reads_in_the_language_it_registered_in(api_client, sent, locale):
    assert register(api_client, HTTP_ACCEPT_LANGUAGE=sent).status_code == 201
    assert User.objects.get(username="lilei").locale == locale


def test_register_duplicate_email_case_insensitive_is_409(api_client):
    assert register(api_client).status_code == 201
    response = register(api_client, email="li.lei@EXAMPLE.com", username="other")
    assert response.status_code == 409
    assert response.json()["error_code"] == "CONFLICT"
    assert response.json()["details"]["field"] == "email"


def test_register_duplicate_username_case_insensitive_is_409(api_client):
    assert register(api_client).status_code == 201
    response = register(api_client, email="x@example.com", username="LiLei")
    assert response.status_code == 409 and response.json()["error_code"] == "CONFLICT"
    assert response.json()["details"]["field"] == "username"


@pytest.mark.parametrize("password", ["123", "password", "12345678901", "lilei2026"])
def test_register_applies_password_validators(api_client, password):
    response = register(api_client, password=password)
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_INPUT"
    assert response.json()["details"]["field"] == "password"
    assert not User.objects.exists()


def test_login_by_email_or_username(api_client, user):
    for identifier in ({"email": user.email.upper()}, {"username": user.username}, {"email": user.username}):
        response = login(api_client, password=PASSWORD, **identifier)
        assert response.status_code == 200, identifier
        body = response.json()
        assert set(body) == {"access", "refresh", "user"}
        assert body["user"]["id"] == user.id


def test_login_bad_password_is_401(api_client, user):
    response = login(api_client, email=user.email, password="wrong")
    assert response.status_code == 401
    assert response.json()["error_code"] == "AUTHENTICATION_FAILED"


def test_login_inactive_user_is_401(api_client, make_user):
    user = make_user(is_active=False)
    response = login(api_client, email=user.email, password=PASSWORD)
    assert response.status_code == 401 and response.json()["error_code"] == "AUTHENTICATION_FAILED"


def test_repeated_failures_for_one_account_are_throttled(api_client, user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        failed = login(api_client, email=user.email, password="wrong")
        assert failed.status_code == 401 and failed.json()["error_code"] == "AUTHENTICATION_FAILED"
    response = login(api_client, email=user.email, password=PASSWORD)  # even the right password now waits
    assert response.status_code == 429
    assert response.json()["error_code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) > 0


def test_repeated_failures_from_one_address_lock_accounts_with_failures_of_their_own(api_client, make_user, settings):
    """Past the address limit, an account with no attempts of its own in the window still logs in (colleagues
    behind one NAT), but an account with a failed attempt waits, even with the right password."""
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    users = make_user.create_batch(6)
    for victim in users[:4]:
        failed = login(api_client, email=victim.email, password="wrong")
        assert failed.status_code == 401 and failed.json()["error_code"] == "AUTHENTICATION_FAILED"
    assert login(api_client, email=users[4].email, password=PASSWORD).status_code == 200
    failed = login(api_client, email=users[5].email, password="wrong")
    assert failed.status_code == 401 and failed.json()["error_code"] == "AUTHENTICATION_FAILED"
    response = login(api_client, email=users[5].email, password=PASSWORD)
    assert response.status_code == 429 and response.json()["error_code"] == "RATE_LIMITED"
    response = login(api_client, email=users[0].email, password=PASSWORD)
    assert response.status_code == 429 and response.json()["error_code"] == "RATE_LIMITED"


def test_username_and_email_of_one_account_share_one_counter(api_client, user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 4
    for identifier in (user.email, user.username, user.email.upper(), user.username.upper()):
        failed = login(api_client, username=identifier, password="wrong")
        assert failed.status_code == 401 and failed.json()["error_code"] == "AUTHENTICATION_FAILED"
    response = login(api_client, username=user.username, password=PASSWORD)
    assert response.status_code == 429 and response.json()["error_code"] == "RATE_LIMITED"


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_get_at_most_the_limit_of_password_checks(user, settings, monkeypatch):
    """Attempts are counted before the password is checked, atomically: 30 racing requests cannot get more
    than LOGIN_FAILURES_PER_ACCOUNT checks."""
    import threading

    from django.db import connection
    from rest_framework.test import APIClient

    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    checks = []
    real = User.check_password

    def counting(self, raw):
        checks.append(raw)
        return real(self, raw)

    monkeypatch.setattr(User, "check_password", counting)
    barrier, statuses = threading.Barrier(30), []

    def attempt():
        try:
            barrier.wait()
            statuses.append(login(APIClient(), email=user.email, password="wrong").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= len(checks) <= 5
    assert sorted(set(statuses)) == [401, 429] and statuses.count(401) == len(checks)


def test_a_fullwidth_username_is_the_same_name(api_client):
    """NFKC: 'ＬＩＬＥＩ' is 'LILEI', taken when 'lilei' is (a 409, not a 500), and logs in as lilei."""
    assert register(api_client).status_code == 201
    response = register(api_client, email="other@example.com", username="ＬＩＬＥＩ")
    assert response.status_code == 409 and response.json()["error_code"] == "CONFLICT"
    assert login(api_client, username="ｌｉｌｅｉ", password="Zhong-Guo-2026!").status_code == 200


def test_success_resets_the_account_counter(api_client, user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for _ in range(2):
        login(api_client, email=user.email, password="wrong")
    assert login(api_client, email=user.email, password=PASSWORD).status_code == 200
    for _ in range(2):
        login(api_client, email=user.email, password="wrong")
    assert login(api_client, email=user.email, password=PASSWORD).status_code == 200


def test_refresh_rotates_and_old_refresh_is_rejected(api_client, user):
    tokens = login(api_client, email=user.email, password=PASSWORD).json()
    rotated = api_client.post("/api/v1/users/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh"] != tokens["refresh"] and new["access"]
    reused = api_client.post("/api/v1/users/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert reused.status_code == 401
    assert reused.json()["error_code"] == "TOKEN_INVALID"
    again = api_client.post("/api/v1/users/token/refresh", {"refresh": new["refresh"]}, format="json")
    assert again.status_code == 200


def test_logout_blacklists_the_refresh_token(api_client, user):
    tokens = login(api_client, email=user.email, password=PASSWORD).json()
    assert api_client.post("/api/v1/users/logout", {"refresh": tokens["refresh"]}, format="json").status_code == 204
    response = api_client.post("/api/v1/users/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 401
    assert response.json()["error_code"] == "TOKEN_INVALID"
    again = api_client.post("/api/v1/users/logout", {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401 and again.json()["error_code"] == "TOKEN_INVALID"


def test_a_logged_out_token_stays_refused_when_the_cache_forgets_everything(
    api_client, user, django_assert_max_num_queries
):
    """Redis restarted without persistence (or failed over, or evicted) used to bring a logged-out session's
    access tokens back to life: the logout is also a row, and a missing `intact` key sends authentication to it."""
    from django.core.cache import cache

    from accounts.models import RevokedSession
    from accounts.tokens import REVOCATIONS_INTACT_KEY, session_revoked_key
    from incubator.batch import count_and_read

    out = login(api_client, email=user.email, password=PASSWORD).json()
    kept = login(api_client, email=user.email, password=PASSWORD).json()
    assert api_client.post("/api/v1/users/logout", {"refresh": out["refresh"]}, format="json").status_code == 204
    assert RevokedSession.objects.count() == 1
    cache.clear()  # Redis restarted empty

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {out['access']}")
    refused = api_client.get("/api/v1/users/me")
    assert refused.status_code == 401 and refused.json()["error_code"] == "TOKEN_INVALID"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {kept['access']}")
    assert api_client.get("/api/v1/users/me").status_code == 200  # the marks are back: the cache answers again
    session = RevokedSession.objects.get().session
    assert count_and_read([], [session_revoked_key(session), REVOCATIONS_INTACT_KEY])[1] == ["1", "1"]
    with django_assert_max_num_queries(1):  # the user row only: no lookup of logouts while the cache holds them
        assert api_client.get("/api/v1/users/me").status_code == 200


def test_a_logout_forgets_the_rows_of_sessions_whose_tokens_are_all_dead(api_client, user):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import RevokedSession

    RevokedSession.objects.create(session="old", expires_at=timezone.now() - timedelta(seconds=1))
    tokens = login(api_client, email=user.email, password=PASSWORD).json()
    assert api_client.post("/api/v1/users/logout", {"refresh": tokens["refresh"]}, format="json").status_code == 204
    assert list(RevokedSession.objects.values_list("session", flat=True)) != ["old"]
    assert not RevokedSession.objects.filter(session="old").exists()


def test_expired_access_token_is_token_invalid(api_client, user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api_client.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.json()["error_code"] == "TOKEN_INVALID"


def test_token_signed_with_another_key_is_rejected(api_client, user):
    import jwt

    forged = jwt.encode(
        {"user_id": user.id, "token_type": "access", "exp": 9999999999, "jti": "x"}, "g" * 64, algorithm="HS256"
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert api_client.get("/api/v1/users/me").json()["error_code"] == "TOKEN_INVALID"


def test_refresh_token_cannot_be_used_as_access(api_client, user):
    tokens = login(api_client, email=user.email, password=PASSWORD).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['refresh']}")
    response = api_client.get("/api/v1/users/me")
    assert response.status_code == 401 and response.json()["error_code"] == "TOKEN_INVALID"


def test_me_get_and_patch(auth_client, user):
    client = auth_client(user)
    assert client.get("/api/v1/users/me").json()["email"] == user.email
    response = client.patch(
        "/api/v1/users/me",
        {"display_name": "韩梅梅", "bio": "热爱机器学习", "locale": "en", "avatar_url": "https://example.com/a.png"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["display_name"], body["bio"], body["locale"]) == ("韩梅梅", "热爱机器学习", "en")
    user.refresh_from_db()
    assert user.display_name == "韩梅梅"


@pytest.mark.parametrize("data", [{"avatar_url": "javascript:alert(1)"}, {"locale": "fr"}, {"display_name": "x" * 101}])
def test_me_patch_rejects_bad_values(auth_client, user, data):
    response = auth_client(user).patch("/api/v1/users/me", data, format="json")
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_INPUT"
    assert response.json()["details"]["field"] == next(iter(data))


def test_me_patch_cannot_change_role_or_email(auth_client, user):
    auth_client(user).patch("/api/v1/users/me", {"role": "mentor", "email": "x@y.cn", "is_staff": True}, format="json")
    user.refresh_from_db()
    assert user.role == "member" and not user.is_staff and user.email != "x@y.cn"


def register_stricter_profile(actor):
    """Version 2 of `user.profile`: `company`, when given, is a string (BACKWARD refuses constraining a property any
    value was allowed for, so the subject is set to NONE first)."""
    from schema_registry.selectors import subject_get
    from schema_registry.services import schema_version_register, subject_update

    subject = subject_update(subject=subject_get(name="user.profile"), actor=actor, data={"compatibility": "NONE"})
    schema = {"type": "object", "properties": {"company": {"type": "string"}}}
    version, created = schema_version_register(subject=subject, schema=schema, actor=actor)
    assert (version.number, created) == (2, True)


def test_me_profile_is_stored_stamped_and_shown(auth_client, user):
    client = auth_client(user)
    before = client.get("/api/v1/users/me").json()
    assert (before["profile"], before["schema_version"]) == ({}, 1)
    profile = {"company": "协和医院", "interests": ["医学影像", "联邦学习"], "years": 3}
    response = client.patch("/api/v1/users/me", {"profile": profile, "bio": "放射科"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["profile"], body["schema_version"], body["bio"]) == (profile, 1, "放射科")
    assert client.get("/api/v1/users/me").json() == body
    user.refresh_from_db()
    assert (user.profile, user.schema_version) == (profile, 1)


def test_me_profile_against_a_stricter_schema(auth_client, user, make_user):
    client = auth_client(user)
    client.patch("/api/v1/users/me", {"profile": {"company": 7}}, format="json")  # fits version 1
    register_stricter_profile(make_user(is_staff=True, is_superuser=True))
    before = User.objects.values().get(pk=user.pk)
    bad = client.patch("/api/v1/users/me", {"display_name": "新名字", "profile": {"company": 8}}, format="json")
    assert bad.status_code == 400, bad.content
    assert (bad.json()["error_code"], bad.json()["details"]["field"]) == ("INVALID_INPUT", "profile.company")
    assert User.objects.values().get(pk=user.pk) == before  # nothing changed, the display name neither
    # Unchanged, it is not checked again and keeps the version it was written under.
    same = client.patch("/api/v1/users/me", {"display_name": "新名字", "profile": {"company": 7}}, format="json")
    assert same.status_code == 200, same.content
    assert (same.json()["display_name"], same.json()["schema_version"]) == ("新名字", 1)
    good = client.patch("/api/v1/users/me", {"profile": {"company": "协和医院"}}, format="json")
    assert good.status_code == 200, good.content
    assert (good.json()["profile"], good.json()["schema_version"]) == ({"company": "协和医院"}, 2)
    user.refresh_from_db()
    assert (user.profile, user.schema_version, user.display_name) == ({"company": "协和医院"}, 2, "新名字")


@pytest.mark.parametrize("value", [["协和医院"], "协和医院", 1, None])
def test_me_profile_that_is_not_an_object_is_400(auth_client, user, value):
    response = auth_client(user).patch("/api/v1/users/me", {"profile": value}, format="json")
    assert response.status_code == 400, response.content
    assert (response.json()["error_code"], response.json()["details"]["field"]) == ("INVALID_INPUT", "profile")
    user.refresh_from_db()
    assert (user.profile, user.schema_version) == ({}, 1)


def test_the_profile_is_only_shown_to_its_user(auth_client, user, make_user):
    """Like `bio`: in the user's own account (GET /users/me, login), never where others see the user."""
    from projects.tests.factories import add_member, make_project

    auth_client(user).patch("/api/v1/users/me", {"profile": {"company": "协和医院"}}, format="json")
    owner = make_user()
    project = make_project(owner, name="医学影像")
    add_member(project, "member", user=user)
    members = auth_client(owner).get(f"/api/v1/projects/{project.id}/members").json()["members"]
    shown = next(member["user"] for member in members if member["user"]["id"] == user.id)
    assert "profile" not in shown and "bio" not in shown and "schema_version" not in shown
    body = login(auth_client(user), email=user.email, password=PASSWORD).json()
    assert body["user"]["profile"] == {"company": "协和医院"}


def test_password_change_revokes_refresh_tokens(api_client, auth_client, user):
    tokens = login(api_client, email=user.email, password=PASSWORD).json()
    client = auth_client(user)
    wrong = client.post(
        "/api/v1/users/me/password", {"current_password": "nope", "new_password": "Brand-New-2026!"}, format="json"
    )
    assert wrong.status_code == 400 and wrong.json()["error_code"] == "INVALID_INPUT"
    assert wrong.json()["details"]["field"] == "current_password"
    weak = client.post(
        "/api/v1/users/me/password", {"current_password": PASSWORD, "new_password": "123"}, format="json"
    )
    assert weak.status_code == 400 and weak.json()["error_code"] == "INVALID_INPUT"
    assert weak.json()["details"]["field"] == "new_password"  # the request's field
    ok = client.post(
        "/api/v1/users/me/password", {"current_password": PASSWORD, "new_password": "Brand-New-2026!"}, format="json"
    )
    assert ok.status_code == 204
    refresh = api_client.post("/api/v1/users/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401 and refresh.json()["error_code"] == "TOKEN_INVALID"
    assert login(api_client, email=user.email, password="Brand-New-2026!").status_code == 200


def test_staff_shows_as_admin_role(auth_client, make_user):
    admin = make_user(is_staff=True)
    mentor = make_user(role="mentor")
    assert auth_client(admin).get("/api/v1/users/me").json()["role"] == "admin"
    assert auth_client(mentor).get("/api/v1/users/me").json()["role"] == "mentor"


@pytest.mark.parametrize("username", [0, 12345, True, ["lilei"]])
def test_a_username_that_is_not_text_is_400(api_client, username):
    """DRF's RegexField turned {"username": 0} into the user "0" (found by the fuzzing gate)."""
    response = register(api_client, username=username)
    assert response.status_code == 400, response.content
    assert response.json()["details"]["field"] == "username"
    assert not User.objects.exists()


def test_register_names_every_wrong_field_at_once_the_password_too(api_client):
    response = register(api_client, email="bad", username="x y", password="123")
    assert response.status_code == 400
    errors = response.json()["details"]["errors"]
    assert set(errors) == {"email", "username", "password"}  # not the password only once the rest is right
    assert errors["password"] == ["密码太短：至少需要 8 个字符。", "这个密码太常见了。", "密码只包含数字。"]
    assert not User.objects.exists()
    # Like the username, in English, and nothing else wrong: the rules as before.
    response = register(api_client, email="bad", password="lilei2026", HTTP_ACCEPT_LANGUAGE="en")
    errors = response.json()["details"]["errors"]
    assert errors == {
        "email": ["Enter a valid email address."],
        "password": ["The password is too similar to the username."],
    }
    response = register(api_client, password="1234", HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["details"]["errors"] == {
        "password": [
            "This password is too short: it must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric.",
        ]
    }
    # The rules see the email too; a field's own error is not replaced by the rules' (too long is checked first).
    response = register(
        api_client, email="lilei2026@example.cn", username="x y", password="lilei2026", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "The password is too similar to the email address." in response.json()["details"]["errors"]["password"]
    response = register(api_client, email="bad", password="1" * 129, HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["details"]["errors"]["password"] == ["Ensure this field has no more than 128 characters."]
    assert not User.objects.exists()
