"""API tokens: where they come from and how a request proves it has one."""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass

from flightontime.config import Settings

logger = logging.getLogger("flightontime.auth")

NO_CREDENTIALS_MESSAGE = (
    "No API token configured, refusing to start. Set PREDICTION_API_TOKEN (comma-separated for "
    "rotation) or PREDICTION_API_TOKEN_FILE (a file holding the token(s)); or run "
    "`flightontime serve --generate-token` to get a random one; or, for local development only, "
    "`--insecure-no-auth`."
)

_SPLIT = re.compile(r"[,\s]+")
_BEARER = re.compile(r"^\s*bearer\s+", re.IGNORECASE)


class TokenConfigError(Exception):
    """The token configuration cannot be used (unreadable file, no token at all)."""


def load_tokens(settings: Settings) -> tuple[str, ...]:
    """Every accepted token: PREDICTION_API_TOKEN's list plus the lines of the token file."""
    raw: list[str] = []
    if settings.api_token is not None:
        raw.extend(_SPLIT.split(settings.api_token.get_secret_value()))
    if settings.api_token_file is not None:
        try:
            text = settings.api_token_file.read_text(encoding="utf-8")
        except OSError as exc:
            # Never fall back to "no auth" because a mounted secret is missing.
            raise TokenConfigError(
                f"PREDICTION_API_TOKEN_FILE={settings.api_token_file} cannot be read: "
                f"{exc.strerror or exc}"
            ) from None
        raw.extend(_SPLIT.split(text))
    return tuple(dict.fromkeys(token for token in raw if token))


@dataclass(frozen=True)
class Authenticator:
    """Checks the Authorization header against the configured tokens in constant time."""

    tokens: tuple[bytes, ...]
    insecure: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """Build from settings; raises TokenConfigError when there is nothing to check against."""
        tokens = load_tokens(settings)
        if not tokens and not settings.insecure_no_auth:
            raise TokenConfigError(NO_CREDENTIALS_MESSAGE)
        for token in tokens:
            if len(token) < 16:
                logger.warning("an API token is shorter than 16 characters; use a longer one")
        return cls(tuple(t.encode() for t in tokens), insecure=settings.insecure_no_auth)

    def check(self, header: str | None) -> bool:
        """True when the header is `<token>` or `Bearer <token>` for a configured token."""
        if self.insecure:
            return True
        if not header:
            return False
        given = _BEARER.sub("", header, count=1).strip().encode()
        ok = False
        # Compare against every token (no early exit) so timing does not reveal which matched.
        for token in self.tokens:
            ok |= hmac.compare_digest(given, token)
        return ok
