"""Generation tokens: bumped in the write's transaction and after its commit, never failing a committed write."""

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.tests.factories import UserFactory
from incubator import generations
from projects.models import Project


@pytest.mark.django_db(transaction=True)
def test_a_lost_bump_after_commit_does_not_turn_a_committed_create_into_an_error(auth_client, monkeypatch):
    """Redis going away between the commit and the second bump: the project exists, so the answer is 201 (a
    503 would make the client retry and create a duplicate)."""
    calls = []
    real = generations._bump

    def flaky(name):
        if name != "projects":  # the analytics bump after commit is best effort (logged) anyway
            return real(name)
        calls.append(name)
        if len(calls) > 1:
            raise RedisConnectionError("gone")
        real(name)

    monkeypatch.setattr(generations, "_bump", flaky)
    client = auth_client(UserFactory())
    response = client.post("/api/v1/projects", {"name": "提交后"}, format="json")
    assert len(calls) == 2
    assert response.status_code == 201, response.content
    assert Project.objects.filter(name="提交后").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_bump_before_commit_rolls_the_write_back(auth_client, monkeypatch):
    def down(name):
        raise RedisConnectionError("gone")

    monkeypatch.setattr(generations, "_bump", down)
    response = auth_client(UserFactory()).post("/api/v1/projects", {"name": "回滚"}, format="json")
    assert response.status_code == 503 and response.json()["error_code"] == "SERVICE_UNAVAILABLE"
    assert not Project.objects.filter(name="回滚").exists()


def test_local_memo_forgets_entries_past_their_age(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(generations.time, "monotonic", lambda: now[0])
    memo = generations.LocalMemo(size=2, max_age=10)
    memo.set("a", 1)
    now[0] += 9
    assert memo.get("a") == 1
    now[0] += 2
    assert memo.get("a") is None
    memo.set("a", 1)
    memo.set("b", 2)
    memo.set("c", 3)
    assert memo.get("a") is None and memo.get("c") == 3
