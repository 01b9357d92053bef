"""JWT parsing that never fails with anything but TokenInvalid, whatever a client (or a forger) sends.

simplejwt trusts a token's claims once its signature checks out: a non-numeric or huge `user_id`, or an
`exp` far past year 9999, reached the ORM or `datetime` and became 500s. A leaked signing key is not the only
way to get such a token: an old deployment, a test key or another service sharing the key can sign one.
"""

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token

from incubator.batch import cache_set_raw
from incubator.serializers import MAX_ID

from .errors import TokenInvalid

# Anything a hostile claim can make simplejwt, PyJWT or datetime raise on the way.
_PARSE_ERRORS = (TokenError, OverflowError, ValueError, TypeError, KeyError, AttributeError)


def token_user_id(token: Token) -> int:
    """The token's user id, if it is one a user can have."""
    user_id = token.payload.get(api_settings.USER_ID_CLAIM)
    if isinstance(user_id, str) and user_id.isascii() and user_id.isdigit() and len(user_id) <= 19:
        user_id = int(user_id)  # simplejwt writes the id as a string
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 1 <= user_id <= MAX_ID:
        raise TokenInvalid()
    return user_id


def _parse(token_class: type[Token], raw: Any) -> Token:
    if not isinstance(raw, str | bytes) or not raw:
        raise TokenInvalid()
    try:
        token = token_class(raw)  # type: ignore[arg-type]  # signature, type, exp (and the blacklist)
    except _PARSE_ERRORS as exc:
        raise TokenInvalid() from exc
    if not isinstance(token.payload.get(api_settings.JTI_CLAIM), str):
        raise TokenInvalid()
    token_user_id(token)
    return token


def refresh_token_parse(raw: Any) -> RefreshToken:
    return _parse(RefreshToken, raw)  # type: ignore[return-value]


def access_token_parse(raw: Any) -> AccessToken:
    return _parse(AccessToken, raw)  # type: ignore[return-value]


# --- sessions and revocation ---------------------------------------------------------------------------------
# A login starts a session: its refresh token and every token rotated from it carry the session id (`sid`, the
# first refresh token's jti), and so do the access tokens made from them. Every token also carries the user's
# token generation (`gen`) at issue. Logging out revokes the session: a mark in the cache, read in the
# request's one round trip (accounts.authentication), kept as long as an access token lives. A password
# change or an admin ending every session raises the user's generation in the database: every earlier token
# fails against the user row that authentication loads anyway, so that costs no lookup at all.
SESSION_CLAIM = "sid"
GENERATION_CLAIM = "gen"


def token_pair_for(user: Any, *, session: str | None = None) -> RefreshToken:
    """A new refresh token (and so access token) for the user, in the given session or a new one."""
    token = RefreshToken.for_user(user)
    token[SESSION_CLAIM] = session or token[api_settings.JTI_CLAIM]
    token[GENERATION_CLAIM] = user.token_generation
    return token


def token_generation_current(token: Token, user: Any) -> bool:
    """Whether the token was issued under the user's current generation (tokens older than the claim count
    as generation 0)."""
    return token.payload.get(GENERATION_CLAIM, 0) == user.token_generation


def session_revoked_key(session: str) -> str:
    return f"auth:session-revoked:{session}"


# Set (without expiry) once the marks of every logged-out session are in the cache. Missing means the cache lost
# what it held (or never had it): authentication then asks the database and puts the marks back.
REVOCATIONS_INTACT_KEY = "auth:revocations-intact"


def revocation_keys(token: Token) -> list[str]:
    """The session's mark, then the key that says the marks can be trusted (read together, in one trip)."""
    session = token.payload.get(SESSION_CLAIM)
    return [session_revoked_key(session), REVOCATIONS_INTACT_KEY] if isinstance(session, str) else []


def _revocation_ttl() -> int:
    return int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()) + 60


def session_revoke(token: Token) -> None:
    """The session's access tokens stop working: its mark in the cache, and its row for when the cache forgets."""
    from .models import RevokedSession

    if isinstance(session := token.payload.get(SESSION_CLAIM), str):
        now = timezone.now()
        RevokedSession.objects.filter(expires_at__lte=now).delete()  # sessions whose tokens are all dead now
        RevokedSession.objects.update_or_create(
            session=session, defaults={"expires_at": now + timedelta(seconds=_revocation_ttl())}
        )
        cache_set_raw(session_revoked_key(session), "1", _revocation_ttl())


def session_revoked_stored(session: str) -> bool:
    from .models import RevokedSession

    return RevokedSession.objects.filter(session=session, expires_at__gt=timezone.now()).exists()


def revocations_restore() -> int:
    """Every live logout's mark back into the cache, then the key that says they are there. Returns how many."""
    from .models import RevokedSession

    now = timezone.now()
    rows = list(RevokedSession.objects.filter(expires_at__gt=now).values_list("session", "expires_at"))
    for session, expires_at in rows:
        cache_set_raw(session_revoked_key(session), "1", max(1, int((expires_at - now).total_seconds())))
    cache_set_raw(REVOCATIONS_INTACT_KEY, "1", None)
    return len(rows)
