"""Console sign-in sessions: who a browser is, and the CSRF token its forms must carry.

    sign_in(key id, secret) --AuthService.caller_for_secret--> a session row (hash of the cookie
    secret, account, principal, CSRF token, expiry) + the cookie secret, returned once
    session(cookie secret) -> the row, unless missing or expired
    sign_out(cookie secret) -> row deleted

Sessions live in the metadata store, so `dockyard serve --workers N` sees every sign-in in every
process. Expiry is absolute (SESSION_LIFETIME after sign-in), from the injected clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from dockyard.domain.models import ConsoleSession
from dockyard.ports import ConsoleSessionStore
from dockyard.services.auth import AuthService
from dockyard.services.clock import Clock

SESSION_LIFETIME = 8 * 3600


def _key(cookie_secret: str) -> str:
    return hashlib.sha256(cookie_secret.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, store: ConsoleSessionStore, auth: AuthService, clock: Clock) -> None:
        self.store, self.auth, self.clock = store, auth, clock

    def sign_in(self, access_key_id: str, secret: str) -> tuple[str, ConsoleSession]:
        """The cookie secret and the new session; raises NotAuthorized for wrong credentials."""
        caller = self.auth.caller_for_secret(access_key_id, secret)
        now = self.clock.now()
        self.store.delete_sessions_expired(now)
        cookie = secrets.token_urlsafe(32)
        session = ConsoleSession(
            _key(cookie),
            caller.account_id,
            caller.principal,
            secrets.token_urlsafe(32),
            now,
            now + SESSION_LIFETIME,
        )
        self.store.create_session(session)
        return cookie, session

    def session(self, cookie: str | None) -> ConsoleSession | None:
        if not cookie:
            return None
        found = self.store.get_session(_key(cookie))
        if found is None or found.expires_at <= self.clock.now():
            return None
        return found

    def sign_out(self, cookie: str | None) -> None:
        if cookie:
            self.store.delete_session(_key(cookie))


def csrf_matches(session: ConsoleSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(
        session.csrf_token.encode(), (submitted or "").encode()
    )
