"""ANAC downloader offline: URLs, cache, retries, atomic writes (mock transport, real server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flightontime_core.training.sources.anac import (
    DEFAULT_BASE_URL,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    AnacDownloadError,
    anac_month_url,
    anac_month_urls,
    download_anac,
    month_range,
    read_anac,
)

BASE = "https://portal.test/VRA"
PAYLOAD = "Atualizado em 2023-02-27\nEmpresa Aérea;...\n".encode()


def test_month_url_follows_the_portal_layout() -> None:
    assert anac_month_url(2023, 3, BASE) == f"{BASE}/2023/03%20-%20Mar%C3%A7o/VRA_20233.csv"
    assert anac_month_url(2024, 11, BASE + "/") == f"{BASE}/2024/11%20-%20Novembro/VRA_202411.csv"
    assert anac_month_urls(2023, 3, BASE)[1] == f"{BASE}/2023/VRA_20233.csv"
    default = anac_month_url(2023, 1)
    assert default.startswith(DEFAULT_BASE_URL + "/2023/01%20-%20Janeiro/")
    assert default.startswith("https://sistemas.anac.gov.br/dadosabertos/")
    with pytest.raises(ValueError, match=r"1\.\.12"):
        anac_month_url(2023, 13, BASE)


def test_month_range() -> None:
    assert month_range((2022, 11), (2023, 2)) == [(2022, 11), (2022, 12), (2023, 1), (2023, 2)]
    assert month_range((2023, 5), (2023, 5)) == [(2023, 5)]
    with pytest.raises(ValueError, match="before"):
        month_range((2023, 5), (2023, 4))


class Portal:
    """A scripted portal: per URL, a list of responses served in order (last one repeats)."""

    def __init__(self, script: dict[str, list[httpx.Response]]) -> None:
        self.script = script
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        answers = self.script.get(url)
        if not answers:
            return httpx.Response(404)
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def _no_sleep(seconds: float) -> None:
    pass


def test_downloads_then_never_fetches_a_cached_month_again(tmp_path: Path) -> None:
    jan, feb = anac_month_url(2023, 1, BASE), anac_month_url(2023, 2, BASE)
    portal = Portal(
        {jan: [httpx.Response(200, content=PAYLOAD)], feb: [httpx.Response(200, content=PAYLOAD)]}
    )
    paths = download_anac((2023, 1), (2023, 2), tmp_path, client=portal.client(), base_url=BASE)
    assert [p.name for p in paths] == ["VRA_2023-01.csv", "VRA_2023-02.csv"]
    assert all(p.read_bytes() == PAYLOAD for p in paths)
    assert portal.requests == [jan, feb]

    march = anac_month_url(2023, 3, BASE)
    portal.script[march] = [httpx.Response(200, content=PAYLOAD)]
    again = download_anac((2023, 1), (2023, 3), tmp_path, client=portal.client(), base_url=BASE)
    assert again[:2] == paths
    assert portal.requests == [jan, feb, march]  # January and February not asked again


def test_retries_after_503_with_backoff(tmp_path: Path) -> None:
    url = anac_month_url(2023, 1, BASE)
    portal = Portal(
        {url: [httpx.Response(503), httpx.Response(503), httpx.Response(200, content=PAYLOAD)]}
    )
    waits: list[float] = []
    (path,) = download_anac(
        (2023, 1), (2023, 1), tmp_path, client=portal.client(), base_url=BASE,
        retries=3, backoff_s=0.5, sleep=waits.append,
    )  # fmt: skip
    assert path.read_bytes() == PAYLOAD
    assert portal.requests == [url, url, url]
    assert waits == [0.5, 1.0]  # exponential backoff


def test_gives_up_after_the_configured_retries(tmp_path: Path) -> None:
    url = anac_month_url(2023, 1, BASE)
    portal = Portal({url: [httpx.Response(503)]})
    with pytest.raises(AnacDownloadError, match="503"):
        download_anac(
            (2023, 1), (2023, 1), tmp_path, client=portal.client(), base_url=BASE,
            retries=2, sleep=_no_sleep,
        )  # fmt: skip
    assert portal.requests == [url] * 3
    assert list(tmp_path.iterdir()) == []


class _BrokenStream(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield PAYLOAD[:10]
        raise httpx.ReadError("connection reset")


def test_a_failed_download_leaves_no_partial_file(tmp_path: Path) -> None:
    url = anac_month_url(2023, 1, BASE)
    broken = [httpx.Response(200, stream=_BrokenStream()) for _ in range(2)]
    portal = Portal({url: broken})
    with pytest.raises(AnacDownloadError, match="ReadError"):
        download_anac(
            (2023, 1), (2023, 1), tmp_path, client=portal.client(), base_url=BASE,
            retries=1, sleep=_no_sleep,
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # neither the month nor a temporary file


def test_a_broken_attempt_then_a_good_one(tmp_path: Path) -> None:
    url = anac_month_url(2023, 1, BASE)
    portal = Portal(
        {url: [httpx.Response(200, stream=_BrokenStream()), httpx.Response(200, content=PAYLOAD)]}
    )
    (path,) = download_anac(
        (2023, 1), (2023, 1), tmp_path, client=portal.client(), base_url=BASE, sleep=_no_sleep
    )
    assert path.read_bytes() == PAYLOAD
    assert list(tmp_path.iterdir()) == [path]


def test_falls_back_to_the_year_folder_and_reports_a_missing_month(tmp_path: Path) -> None:
    primary, fallback = anac_month_urls(2019, 7, BASE)
    portal = Portal({fallback: [httpx.Response(200, content=PAYLOAD)]})
    (path,) = download_anac((2019, 7), (2019, 7), tmp_path, client=portal.client(), base_url=BASE)
    assert portal.requests == [primary, fallback]
    assert path.read_bytes() == PAYLOAD

    html = Portal({primary: [httpx.Response(200, text="<html>Not found</html>")]})
    with pytest.raises(AnacDownloadError, match="2019-08: not on the portal"):
        download_anac((2019, 8), (2019, 8), tmp_path, client=html.client(), base_url=BASE)
    assert not (tmp_path / "VRA_2019-08.csv").exists()


def test_real_http_server_end_to_end(tmp_path: Path, anac_dir: Path, portal_server: str) -> None:
    cache = tmp_path / "cache"
    paths = download_anac((2023, 1), (2023, 2), cache, base_url=portal_server, sleep=_no_sleep)
    assert paths[0].read_bytes() == (anac_dir / "VRA_2023-01.csv").read_bytes()
    result = read_anac(paths)
    assert result.rows_read == 17
    assert len(result.flights) == 8


def test_a_client_error_is_not_retried(tmp_path: Path) -> None:
    url = anac_month_url(2023, 1, BASE)
    portal = Portal({url: [httpx.Response(403)]})
    with pytest.raises(AnacDownloadError, match="HTTP 403"):
        download_anac(
            (2023, 1), (2023, 1), tmp_path, client=portal.client(), base_url=BASE, sleep=_no_sleep
        )
    assert portal.requests == [url]
    assert list(tmp_path.iterdir()) == []


def test_default_retries_and_progress_per_month(tmp_path: Path) -> None:
    jan = anac_month_url(2023, 1, BASE)
    portal = Portal({jan: [httpx.Response(200, content=PAYLOAD)]})
    calls: list[tuple[int, int]] = []
    download_anac(
        (2023, 1), (2023, 1), tmp_path, client=portal.client(), base_url=BASE,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    # February is fetched, January comes from the cache: both count as done.
    feb = anac_month_url(2023, 2, BASE)
    portal.script[feb] = [httpx.Response(200, content=PAYLOAD)]
    download_anac(
        (2023, 1), (2023, 2), tmp_path, client=portal.client(), base_url=BASE,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert calls == [(0, 1), (1, 1), (0, 2), (1, 2), (2, 2)]

    march = anac_month_url(2023, 3, BASE)
    failing = Portal({march: [httpx.Response(503)]})
    with pytest.raises(AnacDownloadError, match=f"after {DEFAULT_RETRIES + 1} attempts"):
        download_anac(
            (2023, 3), (2023, 3), tmp_path, client=failing.client(), base_url=BASE,
            sleep=_no_sleep,
        )  # fmt: skip
    assert failing.requests == [march] * (DEFAULT_RETRIES + 1)


def test_download_parameters_are_checked(tmp_path: Path) -> None:
    assert DEFAULT_TIMEOUT_S > 0
    with pytest.raises(ValueError, match="retries"):
        download_anac((2023, 1), (2023, 1), tmp_path, base_url=BASE, retries=-1)
    with pytest.raises(ValueError, match="timeout_s"):
        download_anac((2023, 1), (2023, 1), tmp_path, base_url=BASE, timeout_s=0)


def test_the_client_it_creates_uses_timeout_s(
    tmp_path: Path, portal_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[dict[str, object]] = []
    real_client = httpx.Client

    def spy(**kwargs: object) -> httpx.Client:
        created.append(kwargs)
        return real_client(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx, "Client", spy)
    download_anac((2023, 1), (2023, 1), tmp_path, base_url=portal_server, timeout_s=7.5)
    assert created == [{"timeout": 7.5, "follow_redirects": True}]
