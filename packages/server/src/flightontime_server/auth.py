"""API tokens: where they come from, and the Litestar middleware that checks them.

The check runs before Litestar reads or validates the body, so a caller without a valid token
learns nothing about the schema (401, never 413 or 422).
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from pathlib import Path
from typing import Final

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from flightontime_server.errors import UNAUTHORIZED, WWW_AUTHENTICATE, ApiError, message
from flightontime_server.language import request_language
from flightontime_server.settings import TOKEN_FILE_VARIABLE, TOKEN_VARIABLE, Settings

logger = logging.getLogger("flightontime_server.auth")

NO_CREDENTIALS_MESSAGE: Final = (
    f"No API token configured, refusing to start. Set {TOKEN_VARIABLE} (comma or space "
    f"separated for rotation) or {TOKEN_FILE_VARIABLE} (a file holding the token(s), re-read "
    "when it changes); or run `flightontime serve --generate-token` to get a random one; or, for "
    "local development only, `--insecure-no-auth`."
)
INSECURE_WARNING: Final = "authentication is DISABLED (--insecure-no-auth); development use only"

_SPLIT = re.compile(r"[,\s]+")
_BEARER = re.compile(r"^\s*bearer\s+", re.IGNORECASE)


class TokenConfigError(Exception):
    """The token configuration cannot be used (an unreadable file, no token at all)."""


def split_tokens(text: str) -> tuple[str, ...]:
    """Tokens in a comma/space/newline separated text, in order, without duplicates."""
    return tuple(dict.fromkeys(t for t in _SPLIT.split(text) if t))


def _file_stamp(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    # ctime too: a chmod that makes the file unreadable changes neither mtime, size nor inode.
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


class Tokens:
    """The accepted tokens: PREDICTION_API_TOKEN's plus the token file's, the file re-read when
    its mtime, ctime, size or inode changes (a rotated secret needs no restart).

    The file is stat'ed on every check (no interval: a revocation takes effect on the next
    request). Deleting the file (or making it unreadable) after the start revokes every token,
    PREDICTION_API_TOKEN's included, until a readable file is back; each change of state is
    logged once per worker. An atomic replace (rename over it, a Kubernetes secret update)
    never leaves the path missing, so rotation is unaffected."""

    def __init__(self, static: tuple[str, ...], file: Path | None) -> None:
        self._static = tuple(t.encode() for t in static)
        self._file = file
        self._stamp: tuple[int, int, int, int] | None = None
        self._from_file: tuple[bytes, ...] = ()
        self._file_lost = False  # the file went missing or unreadable after the start
        self._lock = threading.Lock()
        if file is not None:
            try:
                self._reload(file)
            except OSError as exc:
                # Never fall back to "no auth" because a mounted secret is missing.
                raise TokenConfigError(
                    f"{TOKEN_FILE_VARIABLE}={file} cannot be read: {exc.strerror or exc}"
                ) from None
        for token in self.current():
            if len(token) < 16:
                logger.warning("an API token is shorter than 16 characters; use a longer one")

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
        """The settings' tokens; raises TokenConfigError when the file cannot be read."""
        static = split_tokens(settings.api_token) if settings.api_token else ()
        file = Path(settings.api_token_file) if settings.api_token_file else None
        return cls(static, file)

    def _reload(self, file: Path) -> None:
        stamp = _file_stamp(file)
        tokens = split_tokens(file.read_text(encoding="utf-8"))
        self._from_file = tuple(t.encode() for t in tokens)
        self._stamp = stamp

    def _lose(self, exc: OSError) -> None:
        """Forget the file's tokens and refuse every token until the file is back."""
        self._from_file = ()
        self._stamp = None
        if not self._file_lost:
            self._file_lost = True
            logger.warning(
                "the token file (%s) is gone or unreadable (%s): refusing every API token "
                "until it is back",
                TOKEN_FILE_VARIABLE,
                exc.strerror or exc,
            )

    def current(self) -> tuple[bytes, ...]:
        """Every accepted token now (the file checked for changes first); none while the token
        file is missing or unreadable."""
        file = self._file
        if file is None:
            return self._static
        with self._lock:
            try:
                if _file_stamp(file) != self._stamp:
                    self._reload(file)
                    if self._file_lost:
                        self._file_lost = False
                        logger.warning(
                            "the token file (%s) is back: its tokens are accepted again",
                            TOKEN_FILE_VARIABLE,
                        )
                    else:
                        logger.info("API tokens re-read from %s", TOKEN_FILE_VARIABLE)
            except OSError as exc:
                self._lose(exc)
                return ()
            return self._static + self._from_file

    def __bool__(self) -> bool:
        return bool(self.current())

    def check(self, header: str | None) -> bool:
        """True when the header is `<token>` or `Bearer <token>` for an accepted token."""
        if not header:
            return False
        given = _BEARER.sub("", header, count=1).strip().encode()
        ok = False
        # Against every token, no early exit: timing does not tell which one matched.
        for token in self.current():
            ok |= hmac.compare_digest(given, token)
        return ok


class TokenCheck(ASGIMiddleware):
    """The token routes' Litestar middleware: 401 with WWW-Authenticate unless the request
    carries a valid token; it runs before the body is read or validated.

    A middleware rather than a guard: Litestar copies the route handler for every guard call,
    which cost more per request than the check itself (`make bench-asgi`)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, tokens: Tokens | None) -> None:
        # None: --insecure-no-auth (development only; warned at start and on every request).
        self.tokens = tokens

    def __deepcopy__(self, memo: dict[int, object]) -> TokenCheck:
        # Litestar copies a router when it is registered; the token store (its file watch and
        # lock) stays one per app.
        return self

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Pass the request on with a valid token; raise ApiError(401) otherwise."""
        if self.tokens is None:
            logger.warning("authentication is disabled (--insecure-no-auth): do not expose this")
        else:
            header, language = _header(scope, b"authorization"), None
            if not self.tokens.check(header):
                language = request_language(_header(scope, b"accept-language"))
                raise ApiError(
                    401,
                    UNAUTHORIZED,
                    message("wrong_token" if header else "missing_token", language),
                    headers={"WWW-Authenticate": WWW_AUTHENTICATE},
                )
        await next_app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    """A request header's first value (latin-1, as HTTP carries it), None when absent."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def token_check(settings: Settings) -> TokenCheck:
    """The token middleware for these settings; raises TokenConfigError when no token is
    configured (and authentication is not disabled) or the token file cannot be read."""
    if settings.insecure_no_auth:
        logger.warning(INSECURE_WARNING)
        return TokenCheck(None)
    tokens = Tokens.from_settings(settings)
    if not tokens:
        raise TokenConfigError(NO_CREDENTIALS_MESSAGE)
    return TokenCheck(tokens)
