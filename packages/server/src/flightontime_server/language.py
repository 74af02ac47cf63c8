"""Which language an answer speaks: Portuguese by default (the backend's users), English when
`Accept-Language` asks for it first. The core words every sentence in both (its catalogs); the
negotiation over the header is HTTP's, so it lives here. Headers repeat, so it is cached.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from flightontime_core.messages import LANGUAGES

DEFAULT_LANGUAGE: Final = "pt"


def negotiate(header: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The supported language an Accept-Language value asks for first ("pt-BR,en;q=0.5" -> "pt")."""
    if not header:
        return default
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, rest = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        if code in LANGUAGES and q > 0:
            wanted.append((q, -position, code))  # equal weights: the header's order decides
    return max(wanted)[2] if wanted else default


@lru_cache(maxsize=256)
def request_language(header: str | None) -> str:
    """The language of the answer to a request with this `Accept-Language` value."""
    return negotiate(header)
