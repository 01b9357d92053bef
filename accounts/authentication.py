"""Bearer-token authentication of API requests: simplejwt's, with every malformed token a 401 TOKEN_INVALID and
revoked tokens refused: a logged-out session in the request's one round trip to the cache, an older token
generation (password change) against the user row."""

from typing import Any

from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication

from incubator.batch import batch_scope, batch_send_for, count_and_read
from incubator.prepared import PreparedLookup

from .errors import TokenInvalid
from .models import User
from .tokens import (
    SESSION_CLAIM,
    access_token_parse,
    revocation_keys,
    revocations_restore,
    session_revoked_stored,
    token_generation_current,
    token_user_id,
)

# Every authenticated request's lookup, its SQL built once per database (incubator.prepared).
_USER = PreparedLookup(User, lambda user_id: User.objects.filter(pk=user_id))


class JWTAuthentication(SimpleJWTAuthentication):
    def authenticate(self, request: Any) -> Any:
        found = super().authenticate(request)
        if found is None:
            return None
        user, token = found
        keys = revocation_keys(token)
        batch = batch_scope.get()
        if not keys:
            return user, token
        if batch is None:  # outside a request's middleware (a test calling the class directly)
            values = count_and_read([], keys)[1]
        else:
            batch.want(*keys)
            # Now, with the view's rate-limit counters: DRF runs the throttles after the permissions, which
            # must not see a revoked user.
            batch_send_for(request, getattr(request, "parser_context", {}).get("view"), user)
            values = [batch.read(key)[1] for key in keys]
        mark, intact = values
        if mark is not None:  # the session was logged out
            raise TokenInvalid()
        if intact is None:
            # The cache lost its marks (Redis restarted empty, a failover, eviction), or this is its first
            # request: the database knows every logout whose tokens still live; put the marks back.
            session = token.payload[SESSION_CLAIM]
            if session_revoked_stored(session):
                raise TokenInvalid()
            revocations_restore()
        return user, token

    def get_validated_token(self, raw_token: bytes) -> Any:
        return access_token_parse(raw_token)

    def get_user(self, validated_token: Any) -> Any:
        user = _USER.first(user_id=token_user_id(validated_token))
        if user is None or not user.is_active or not token_generation_current(validated_token, user):
            raise TokenInvalid()
        return user
