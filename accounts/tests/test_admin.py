"""Django admin writes on accounts go through accounts.services: users made, changed, given a password,
deactivated or logged out everywhere, each with its outbox event; Django's forms still validate."""

from typing import Any

import pytest
from django.contrib import admin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from incubator.events.models import Event

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"
NEW_PASSWORD = "Another-Pass-2027"


@pytest.fixture
def admin_user(make_user):
    return make_user(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def form_data(response: Any) -> dict[str, Any]:
    """What a browser posts back from the admin form page, untouched."""
    assert response.status_code == 200, response.content[:500]
    data: dict[str, Any] = {}
    for field in response.context["adminform"].form:
        if field.field.disabled:
            continue
        value = field.value()
        if isinstance(value, bool) or field.widget_type == "checkbox":
            if value:
                data[field.html_name] = "on"
        elif isinstance(value, list | tuple):
            data[field.html_name] = [str(v) for v in value]
        elif value is not None:
            data[field.html_name] = str(value)
    return data


def login(api_client: Any, user: User, password: str = PASSWORD) -> Any:
    return api_client.post("/api/v1/users/login", {"email": user.email, "password": password}, format="json")


def refresh(api_client: Any, token: str) -> int:
    return api_client.post("/api/v1/users/token/refresh", {"refresh": token}, format="json").status_code


def user_events(user: User, type_: str) -> list[Event]:
    return list(Event.objects.filter(topic=f"user:{user.pk}", type=type_))


def test_add_creates_through_the_service(admin_client, admin_user, api_client):
    data = form_data(admin_client.get(f"{USERS}add/"))
    data.update(
        {
            "username": "mentor1",
            "email": "Mentor1@Example.COM",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "role": "mentor",
            "is_staff": "on",
        }
    )
    response = admin_client.post(f"{USERS}add/", data)
    assert response.status_code == 302, response.content[:2000]

    user = User.objects.get(username="mentor1")
    assert user.email == "Mentor1@example.com" and user.role == "mentor" and user.is_staff
    assert user.display_name == "mentor1" and user.check_password(NEW_PASSWORD)
    (event,) = user_events(user, "user.created")
    assert event.actor_id == admin_user.id and event.payload["role"] == "admin"
    assert login(api_client, user, NEW_PASSWORD).status_code == 200


def test_add_is_validated_by_the_form(admin_client):
    taken = UserFactory(email="taken@example.com")
    data = form_data(admin_client.get(f"{USERS}add/"))
    data.update({"username": "other", "email": "TAKEN@example.com", "password1": "1", "password2": "1"})
    response = admin_client.post(f"{USERS}add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["email"] == ["该邮箱或用户名已被注册。"] and errors["password2"] and "__all__" not in errors
    assert list(User.objects.filter(email__iexact=taken.email)) == [taken]
    assert not Event.objects.filter(type="user.created").exists()


def test_change_goes_through_the_service(admin_client, admin_user, api_client):
    user = UserFactory()
    url = f"{USERS}{user.pk}/change/"
    data = form_data(admin_client.get(url))
    data.update({"display_name": "新名字", "role": "mentor"})

    assert admin_client.post(url, data).status_code == 302

    user.refresh_from_db()
    assert user.display_name == "新名字" and user.role == "mentor"
    (event,) = user_events(user, "user.updated")
    assert event.actor_id == admin_user.id and sorted(event.payload["changed"]) == ["display_name", "role"]

    assert admin_client.post(url, form_data(admin_client.get(url))).status_code == 302
    assert len(user_events(user, "user.updated")) == 1  # an unchanged form writes nothing


def test_the_profile_is_changed_through_the_service_and_checked_on_the_field(admin_client, admin_user):
    from schema_registry.selectors import subject_get
    from schema_registry.services import schema_version_register, subject_update

    user = UserFactory()
    url = f"{USERS}{user.pk}/change/"
    data = form_data(admin_client.get(url))
    assert data["profile"] == "{}"
    data["profile"] = '{"company": 1}'
    assert admin_client.post(url, data).status_code == 302
    user.refresh_from_db()
    assert (user.profile, user.schema_version) == ({"company": 1}, 1)
    (event,) = user_events(user, "user.updated")
    assert event.payload["changed"] == ["profile"]

    subject = subject_update(subject=subject_get(name="user.profile"), actor=admin_user, data={"compatibility": "NONE"})
    schema = {"type": "object", "properties": {"company": {"type": "string"}}}
    schema_version_register(subject=subject, schema=schema, actor=admin_user)
    for bad in ('{"company": 2}', '"协和"'):
        data = form_data(admin_client.get(url))
        data.update({"profile": bad, "display_name": "新名字"})
        response = admin_client.post(url, data)
        assert response.status_code == 200, bad
        errors = response.context["adminform"].form.errors
        assert list(errors) == ["profile"] and errors["profile"], bad
    user.refresh_from_db()
    assert (user.profile, user.schema_version) == ({"company": 1}, 1) and user.display_name != "新名字"
    # Saved unchanged (though version 2 would refuse it), it keeps its version and writes nothing; changed to fit,
    # it is stamped with version 2.
    assert admin_client.post(url, form_data(admin_client.get(url))).status_code == 302
    user.refresh_from_db()
    assert user.schema_version == 1 and len(user_events(user, "user.updated")) == 1
    data = form_data(admin_client.get(url))
    data["profile"] = '{"company": "协和"}'
    assert admin_client.post(url, data).status_code == 302
    user.refresh_from_db()
    assert (user.profile, user.schema_version) == ({"company": "协和"}, 2)


def test_deactivating_ends_every_session(admin_client, api_client):
    user = UserFactory()
    token = login(api_client, user).json()["refresh"]
    url = f"{USERS}{user.pk}/change/"
    data = form_data(admin_client.get(url))
    del data["is_active"]

    assert admin_client.post(url, data).status_code == 302

    assert not User.objects.get(pk=user.pk).is_active
    assert refresh(api_client, token) == 401
    assert user_events(user, "user.updated")[0].payload["changed"] == ["is_active"]


def test_password_set_goes_through_the_service(admin_client, admin_user, api_client):
    user = UserFactory()
    token = login(api_client, user).json()["refresh"]
    url = f"{USERS}{user.pk}/password/"
    assert admin_client.get(url).status_code == 200

    weak = admin_client.post(url, {"usable_password": "true", "password1": "123", "password2": "123"})
    assert weak.status_code == 200 and User.objects.get(pk=user.pk).check_password(PASSWORD)

    response = admin_client.post(
        url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "set-password": "1"}
    )

    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    assert refresh(api_client, token) == 401
    assert login(api_client, user, NEW_PASSWORD).status_code == 200
    (event,) = user_events(user, "user.updated")
    assert event.payload["changed"] == ["password"] and event.actor_id == admin_user.id


def test_own_password_change_keeps_the_admin_logged_in(admin_client, admin_user):
    url = f"{USERS}{admin_user.pk}/password/"
    data = {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert admin_client.post(url, data).status_code == 302
    assert admin_client.get(USERS).status_code == 200


@pytest.mark.parametrize("action", ["end_sessions", "deactivate"])
def test_session_actions(admin_client, api_client, action):
    users = [UserFactory(), UserFactory()]
    tokens = [login(api_client, user).json()["refresh"] for user in users]

    response = admin_client.post(USERS, {"action": action, "_selected_action": [str(u.pk) for u in users]})

    assert response.status_code == 302
    assert [refresh(api_client, token) for token in tokens] == [401, 401]
    assert BlacklistedToken.objects.count() == OutstandingToken.objects.count() == 2
    assert [User.objects.get(pk=u.pk).is_active for u in users] == [action == "end_sessions"] * 2


def test_users_are_deactivated_not_deleted_and_token_tables_are_hidden(admin_client):
    user = UserFactory()
    assert admin_client.post(f"{USERS}{user.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=user.pk).exists()
    assert not admin.site.is_registered(OutstandingToken) and not admin.site.is_registered(BlacklistedToken)
    assert admin_client.get("/admin/token_blacklist/outstandingtoken/").status_code == 404
