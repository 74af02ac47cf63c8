"""ANAC downloader offline: URLs, cache, retries, atomic writes (mock transport, real server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flightontime.config import get_settings
from flightontime.data.anac import (
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
    assert default.startswith(get_settings().anac_base_url + "/2023/01%20-%20Janeiro/")
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
