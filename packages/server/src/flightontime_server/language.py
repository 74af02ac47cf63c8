"""Which language an answer speaks: Portuguese by default (the backend's users), English when
`Accept-Language` asks for it first. The parsing is the core's; headers repeat, so it is cached.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from flightontime_core.messages import language_of

DEFAULT_LANGUAGE: Final = "pt"


@lru_cache(maxsize=256)
def request_language(header: str | None) -> str:
    """The language of the answer to a request with this `Accept-Language` value."""
    return language_of(header, DEFAULT_LANGUAGE)
