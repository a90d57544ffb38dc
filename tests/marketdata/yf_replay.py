"""Replay recorded Yahoo Finance HTTP exchanges to yfinance, with no network (test helper).

The recordings live in ``tests/marketdata/recorded/yfinance/``: ``manifest.json``
lists one entry per distinct request (method, URL, query parameters, status,
content type, body file) and each body is a file next to it. They are written
by :func:`write_recording`, which ``scripts/record_yfinance.py`` calls after
running :data:`the recording plan <PRICE_START>` against Yahoo.

:class:`ReplaySession` is a ``curl_cffi`` session (the backend yfinance uses)
whose ``request`` never opens a connection: a request whose method, URL and
parameters match a manifest entry gets the recorded response; any other
request is logged in :attr:`ReplaySession.unrecorded` and raises
``curl_cffi.requests.exceptions.ConnectionError``. yfinance swallows
connection errors during its cookie handshake, so the test fixtures also
fail any test that left an entry in ``unrecorded``.

Matching ignores the ``crumb`` parameter (a per-session token) and, for the
fundamentals-timeseries endpoint, ``period1``/``period2`` (yfinance derives
them from today's date). Chart requests match on ``period1``/``period2``
exactly, so a provider that sends another date range is caught.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit

from curl_cffi import requests as curl_requests
from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError
from curl_cffi.requests.headers import Headers

RECORDED_DIR = Path(__file__).resolve().parent / "recorded" / "yfinance"
MANIFEST_FILE = "manifest.json"
KEPT_FILES = frozenset({MANIFEST_FILE, "README.md"})
"""Files of the recording directory that are not response bodies."""

# The recording plan: what scripts/record_yfinance.py asks Yahoo for and the tests replay.
PRICE_START = dt.date(2024, 6, 3)
PRICE_END = dt.date(2024, 6, 7)
"""Inclusive window of the daily chart requests (Monday to Friday, five sessions)."""
PRICE_SYMBOLS = ("AAPL", "SPY")
RATE_PROXIES = ("^IRX", "^TNX")
UNKNOWN_SYMBOL = "XYZNOTREAL"
"""A ticker Yahoo does not know."""
OPTION_UNDERLYING = "AAPL"

IGNORED_PARAMS = frozenset({"crumb"})
VOLATILE_PARAMS: Mapping[str, frozenset[str]] = {
    "/ws/fundamentals-timeseries/": frozenset({"period1", "period2"}),
}
"""URL path fragment -> parameters left out of matching (they depend on today's date)."""

Intercept = Callable[["HttpRequest"], "curl_requests.Response | None"]
"""Called before matching; returns a response to serve, None to replay, or raises."""


@dataclass(frozen=True)
class HttpRequest:
    """One request as yfinance made it: ``url`` without query, query and params merged."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...]

    @classmethod
    def from_call(
        cls, method: str, url: str, params: Mapping[str, Any] | None = None
    ) -> HttpRequest:
        parts = urlsplit(url)
        merged = dict(parse_qsl(parts.query, keep_blank_values=True))
        merged.update({k: str(v) for k, v in (params or {}).items()})
        kept = sorted((k, v) for k, v in merged.items() if k not in IGNORED_PARAMS)
        return cls(method.upper(), f"{parts.scheme}://{parts.netloc}{parts.path}", tuple(kept))

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)

    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """What replay matches on: volatile parameters left out."""
        volatile = set().union(*(v for k, v in VOLATILE_PARAMS.items() if k in self.url))
        return self.method, self.url, tuple(p for p in self.params if p[0] not in volatile)

    def __str__(self) -> str:
        query = urlencode(self.params)
        return f"{self.method} {self.url}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Exchange:
    """A request and the response Yahoo gave (the unit a recording is made of)."""

    request: HttpRequest
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class ManifestEntry:
    request: HttpRequest
    status: int
    content_type: str
    body_file: str

    def body(self, directory: Path = RECORDED_DIR) -> bytes:
        return (directory / self.body_file).read_bytes()

    def json(self, directory: Path = RECORDED_DIR) -> Any:
        return json.loads(self.body(directory))


def load_manifest(directory: Path = RECORDED_DIR) -> list[ManifestEntry]:
    """The entries of ``directory/manifest.json``, in file order."""
    manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    return [
        ManifestEntry(
            request=HttpRequest.from_call(e["method"], e["url"], e["params"]),
            status=int(e["status"]),
            content_type=e["content_type"],
            body_file=e["body"],
        )
        for e in manifest["entries"]
    ]


def recorded(path_suffix: str, directory: Path = RECORDED_DIR, **params: str) -> ManifestEntry:
    """The one entry whose URL path ends with ``path_suffix`` and has ``params`` (name=value).

    A parameter given as ``"*"`` only has to be present.
    """
    found = [
        entry
        for entry in load_manifest(directory)
        if entry.request.path.endswith(path_suffix)
        and all(
            entry.request.param(name) is not None and value in ("*", entry.request.param(name))
            for name, value in params.items()
        )
    ]
    if len(found) != 1:
        raise LookupError(f"{len(found)} recorded requests match {path_suffix} {params}")
    return found[0]


def write_recording(directory: Path, exchanges: Iterable[Exchange], *, source: str) -> int:
    """Replace the recording in ``directory`` by ``exchanges`` (README.md is kept).

    Returns the number of manifest entries written.

    Requests that match alike are stored once (the last response wins). JSON
    bodies are re-serialized indented, which keeps every value: Python's json
    module round-trips floats exactly.
    """
    unique = {exchange.request.key(): exchange for exchange in exchanges}
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        if old.is_file() and old.name not in KEPT_FILES:
            old.unlink()
    entries = []
    for exchange in unique.values():
        name, body = _body_file(exchange)
        (directory / name).write_bytes(body)
        entries.append(
            {
                "method": exchange.request.method,
                "url": exchange.request.url,
                "params": dict(exchange.request.params),
                "status": exchange.status,
                "content_type": exchange.content_type,
                "body": name,
            }
        )
    manifest = {"source": source, "entries": entries}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return len(entries)


def _body_file(exchange: Exchange) -> tuple[str, bytes]:
    """File name (readable endpoint slug + digest of the request) and stored body."""
    request = exchange.request
    host = urlsplit(request.url).netloc.split(".")[0]
    slug = re.sub(r"[^A-Za-z0-9]+", "_", f"{host}{request.path}").strip("_")
    digest = hashlib.sha1(repr(request.key()).encode()).hexdigest()[:8]
    if "json" in exchange.content_type:
        body = json.dumps(json.loads(exchange.body), indent=1).encode() + b"\n"
        return f"{slug}__{digest}.json", body
    extension = "html" if "html" in exchange.content_type else "txt"
    return f"{slug}__{digest}.{extension}", exchange.body


def make_response(
    request: HttpRequest, status: int, content_type: str, body: bytes
) -> curl_requests.Response:
    """A ``curl_cffi`` response as the real transport would return it."""
    response = curl_requests.Response()
    response.url = str(request).split(" ", 1)[1]
    response.status_code = status
    response.reason = HTTPStatus(status).phrase
    response.ok = status < 400
    response.headers = Headers({"Content-Type": content_type})
    response.content = body
    return response


def refuse_connection(request: HttpRequest) -> NoReturn:
    """Intercept that fails every request the way curl does without network."""
    raise CurlConnectionError(
        f"Failed to perform, curl: (6) Could not resolve host: {urlsplit(request.url).netloc}",
        6,
    )


class ReplaySession(curl_requests.Session):
    """A ``curl_cffi`` session answering from a recording; it never opens a connection.

    Parameters
    ----------
    directory : Path
        Recording directory (``manifest.json`` and bodies).
    intercept : callable, optional
        Called with each :class:`HttpRequest` before the recording is looked
        up: it may raise (a transport failure), return a response to serve
        instead, or return None to replay the recording.

    Attributes
    ----------
    requests : list of HttpRequest
        Every request yfinance made, in order (intercepted ones included).
    unrecorded : list of HttpRequest
        Requests that had no recording (each raised ``ConnectionError``).
    """

    def __init__(self, directory: Path = RECORDED_DIR, *, intercept: Intercept | None = None):
        super().__init__()
        self._directory = directory
        self._entries = {entry.request.key(): entry for entry in load_manifest(directory)}
        self._intercept = intercept
        self.requests: list[HttpRequest] = []
        self.unrecorded: list[HttpRequest] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> curl_requests.Response:  # type: ignore[override]
        request = HttpRequest.from_call(method, url, kwargs.get("params"))
        self.requests.append(request)
        if self._intercept is not None:
            response = self._intercept(request)
            if response is not None:
                return response
        entry = self._entries.get(request.key())
        if entry is None:
            self.unrecorded.append(request)
            raise CurlConnectionError(f"replay: no recorded response for {request}", 7)
        return make_response(request, entry.status, entry.content_type, entry.body(self._directory))

    def count(self, path_suffix: str) -> int:
        """How many requests went to a URL path ending with ``path_suffix``."""
        return sum(1 for r in self.requests if r.path.endswith(path_suffix))


@contextmanager
def isolated_yfinance() -> Iterator[None]:
    """Run yfinance with fresh process-wide state and no disk caches; restore it afterwards.

    Resets what yfinance 1.7 keeps per process: the ``YfData`` singleton
    (session, cookie, crumb, cookie strategy), its in-memory response cache,
    the counter limiting quoteSummary timezone look-ups to two per process,
    and the on-disk timezone and cookie caches (replaced by yfinance's own
    no-op caches: ``set_tz_cache_location`` has no effect once a cache was used).
    """
    from yfinance import base as yf_base
    from yfinance import cache as yf_cache
    from yfinance.data import SingletonMeta, YfData

    saved_tz_cache = yf_cache._TzCacheManager._tz_cache
    saved_cookie_cache = yf_cache._CookieCacheManager._Cookie_cache
    saved_data = SingletonMeta._instances.pop(YfData, None)
    saved_counter = yf_base._tz_info_fetch_ctr
    yf_cache._TzCacheManager._tz_cache = yf_cache._TzCacheDummy()
    yf_cache._CookieCacheManager._Cookie_cache = yf_cache._CookieCacheDummy()
    yf_base._tz_info_fetch_ctr = 0
    YfData.cache_get.cache_clear()
    try:
        yield
    finally:
        YfData.cache_get.cache_clear()
        yf_base._tz_info_fetch_ctr = saved_counter
        SingletonMeta._instances.pop(YfData, None)
        if saved_data is not None:
            SingletonMeta._instances[YfData] = saved_data
        yf_cache._CookieCacheManager._Cookie_cache = saved_cookie_cache
        yf_cache._TzCacheManager._tz_cache = saved_tz_cache
