"""Hostile or careless input never reaches the backends as a 500: crafted cursors, control characters in
admin text, chunked bodies over the limit, stream ids with a trailing newline; start-up settings that would
leak secrets or weaken auth are refused; every answer carries the security headers; unknown API paths and
wrong methods are JSON errors even with the dashboard mounted."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from telemetra.dev.testing.services import ADMIN_TOKEN, READ_TOKEN, WRITE_TOKEN, ws_receive
from telemetra.services import cursor
from telemetra.services.settings import Settings

SECRET = "jwt-secret-for-tests-0123456789abcdef"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def raw_cursor(body: bytes) -> str:
    """A cursor around JSON the service's own encoder cannot produce (huge numbers, NaN, deep nesting)."""
    return base64.urlsafe_b64encode(body).rstrip(b"=").decode()


def cursor_of(kind: str, position: bytes) -> str:
    return raw_cursor(b'{"v":1,"k":"' + kind.encode() + b'","p":' + position + b"}")


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO)
    yield
    noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not noisy, [r.getMessage() for r in noisy]


# -- 1. cursors ------------------------------------------------------------------------------------------
METRICS_KIND, MOMENTS_KIND = "metrics:alpha:10s", "moments:alpha"
BAD_POSITIONS = [
    b"[1e308]",
    b"[-1e308]",
    b"[1e400]",
    b"[" + b"1" * 400 + b"]",  # 10**400
    b"[-5]",
    b"[-0.5]",
    b"[32503680000]",  # the year 3000
    b"[NaN]",
    b"[Infinity]",
    b"[true]",
    b"[null]",
    b'["1790000000"]',
    b"[[1790000000]]",
    b'[{"a":1}]',
    b"[]",
    b"[1790000000, 1]",
    b"[" * 200 + b"]" * 200,
    b"{}",
    b'"text"',
]
BAD_MOMENT_POSITIONS = [
    b'[1e308, "abc"]',
    b'[-1e308, "abc"]',
    b'[1e400, "abc"]',
    b'[-1, "abc"]',
    b'[true, "abc"]',
    b'[1790000000, "a\\u0000b"]',
    b'[1790000000, "' + b"x" * 300 + b'"]',
    b'[1790000000, "\\ud800"]',
    b'[1790000000, ""]',
    b'[1790000000, "tab\\tbed"]',
    b"[1790000000, 5]",
    b"[1790000000, null]",
    b"[1790000000]",
    b'[1790000000, "abc", 1]',
    b'["1790000000", "abc"]',
    b"[" * 150 + b"]" * 150,
]


@pytest.mark.usefixtures("no_tracebacks")
@pytest.mark.parametrize(
    ("path", "text"),
    [("metrics", cursor_of(METRICS_KIND, p)) for p in BAD_POSITIONS]
    + [("moments", cursor_of(MOMENTS_KIND, p)) for p in BAD_MOMENT_POSITIONS],
)
def test_crafted_cursors_are_422_naming_the_cursor(api: Any, path: str, text: str) -> None:
    with api.client() as client:
        answer = client.get(f"/api/v1/streams/alpha/{path}", params={"cursor": text})
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["detail"]] == [["query", "cursor"]]


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.floats(min_value=-1e12, max_value=1e12)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
POSITIONS = (
    st.lists(JSON, max_size=3)
    | st.tuples(SCALARS).map(list)
    | st.tuples(SCALARS, st.text(st.characters(exclude_categories=["Cs"]), max_size=40)).map(list)
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(position=POSITIONS)
def test_no_encoded_cursor_position_is_a_server_error(api: Any, position: list[Any]) -> None:
    """Whatever a client puts in a cursor made with the service's own encoding: an answer or a 422."""
    with api.client() as client:
        for path, kind in (("metrics", METRICS_KIND), ("moments", MOMENTS_KIND)):
            answer = client.get(
                f"/api/v1/streams/alpha/{path}", params={"cursor": cursor.encode(kind, position)}
            )
            assert answer.status_code in (200, 422), (path, position, answer.status_code, answer.text)
            if answer.status_code == 422:
                assert [e["loc"] for e in answer.json()["detail"]] == [["query", "cursor"]]


# -- 2 and 6. admin text -----------------------------------------------------------------------------------
@pytest.mark.usefixtures("no_tracebacks")
@pytest.mark.parametrize("field", ["title", "category"])
@pytest.mark.parametrize("bad", ["a\x00b", "bell\x07", "\x1b[31mred", "del\x7f", "c1\x85", "\x0bvt"])
def test_control_characters_in_admin_text_are_422_naming_the_field(api: Any, field: str, bad: str) -> None:
    with api.client(headers=bearer(ADMIN_TOKEN)) as client:
        answer = client.patch("/api/v1/admin/streams/alpha", json={field: bad})
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["detail"]] == [["body", field]]


@pytest.mark.usefixtures("no_tracebacks")
def test_a_lone_surrogate_in_admin_text_is_422(api: Any) -> None:
    with api.client(headers=bearer(ADMIN_TOKEN)) as client:
        answer = client.patch(
            "/api/v1/admin/streams/alpha",
            content=b'{"title": "x\\ud800y"}',
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["detail"]] == [["body", "title"]]


@pytest.mark.usefixtures("no_tracebacks")
@pytest.mark.parametrize("body", [b'{"title": "\xff\xfe"}', b"J\x7f/\xd2\xa2", b"\xc3"])
def test_a_body_that_is_not_utf8_is_422(api: Any, body: bytes) -> None:
    """FastAPI answers 400 (undocumented) when a JSON body cannot be decoded as text."""
    with api.client(headers=bearer(ADMIN_TOKEN)) as client:
        answer = client.patch(
            "/api/v1/admin/streams/alpha", content=body, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][0] == "body"


def test_admin_text_keeps_ordinary_whitespace_and_unicode(api: Any) -> None:
    with api.client(headers=bearer(ADMIN_TOKEN)) as client:
        answer = client.patch("/api/v1/admin/streams/beta", json={"title": "Tabs\tand\nlines — ünïcödé 🎮"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["title"] == "Tabs\tand\nlines — ünïcödé 🎮"


def test_patch_changes_only_the_fields_sent(api: Any) -> None:
    path = "/api/v1/admin/streams/gamma"
    with api.client(headers=bearer(WRITE_TOKEN)) as client:
        both = client.patch(path, json={"title": "Original", "category": "Games"})
        title_only = client.patch(path, json={"title": "Renamed"})
        category_only = client.patch(path, json={"category": "Music"})
        nothing = client.patch(path, json={})
        cleared = client.patch(path, json={"title": None})
        fetched = client.get("/api/v1/streams/gamma")
    assert both.status_code == 200, both.text
    meta = [(a.json()["title"], a.json()["category"]) for a in (title_only, category_only, nothing, cleared)]
    assert meta == [("Renamed", "Games"), ("Renamed", "Music"), ("Renamed", "Music"), (None, "Music")]
    assert (fetched.json()["title"], fetched.json()["category"]) == (None, "Music")


def test_patching_an_unknown_stream_with_an_empty_body_is_404(api: Any) -> None:
    with api.client(headers=bearer(WRITE_TOKEN)) as client:
        assert client.patch("/api/v1/admin/streams/nobody-here", json={}).status_code == 404


# -- 3. token list errors ------------------------------------------------------------------------------------
GOOD = "admin-token-that-must-stay-secret-0001"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"{GOOD}:admin,tiny-secret", "entry 2: token shorter than 16 characters"),
        (f"{GOOD},another-secret-token-value:sudo", "entry 2: unknown scope"),
        (f"{GOOD}:read+secretscope", "entry 1: unknown scope"),
        (f"shortsecret:admin,{GOOD}", "entry 1: token shorter than 16 characters"),
    ],
)
def test_a_malformed_token_list_names_the_entry_never_a_token(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("TELEMETRA_API_TOKENS", value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    text = f"{raised.value}\n{raised.value!r}"
    assert problem in text and "api_tokens" in text
    for secret in (GOOD, "tiny-secret", "another-secret-token-value", "secretscope", "shortsecret"):
        assert secret not in text


def test_a_bad_jwt_secret_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRA_JWT_SECRET", "too-short-secret")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "at least 32 bytes" in str(raised.value) and "too-short-secret" not in str(raised.value)


# -- 4. JWT and scopes ----------------------------------------------------------------------------------------
def jwt_token(scope: str, **claims: Any) -> str:
    payload = {"sub": "tester", "scope": scope, "exp": int(time.time() + 60), **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256")


def test_jwt_secrets_shorter_than_32_bytes_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(jwt_secret="x" * 31)
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(jwt_secret="é" * 15)  # 30 bytes, 15 characters
    assert Settings(jwt_secret="x" * 32).jwt_secret is not None
    assert Settings(jwt_secret="").jwt_secret is None  # an empty Secret key: JWTs off


def test_a_jwt_with_an_audience_is_refused_when_none_is_configured(make_api: Any) -> None:
    api = make_api(jwt_secret=SECRET)
    path = "/api/v1/admin/streams/nobody"
    with api.client() as client:
        plain = client.delete(path, headers=bearer(jwt_token("admin")))
        aimed = client.delete(path, headers=bearer(jwt_token("admin", aud="another-service")))
    assert plain.status_code == 404  # authorized; nothing to delete
    assert aimed.status_code == 401 and aimed.json()["detail"] == "invalid or expired token"


def test_an_empty_scope_grants_nothing(make_api: Any) -> None:
    empty = "empty-scope-token-0123456789"
    api = make_api(public_reads=False, jwt_secret=SECRET, api_tokens=f"{empty}:,{READ_TOKEN}:read")
    assert [t.scopes for t in api.settings.api_tokens] == [frozenset(), frozenset({"read"})]
    with api.client() as client:
        for credential in (empty, jwt_token("")):
            answers = [
                client.get("/api/v1/streams", headers=bearer(credential)),
                client.patch("/api/v1/admin/streams/alpha", json={"title": "x"}, headers=bearer(credential)),
                client.delete("/api/v1/admin/streams/alpha", headers=bearer(credential)),
            ]
            assert [a.status_code for a in answers] == [403, 403, 403]


# -- 5. unknown paths and methods ---------------------------------------------------------------------------
@pytest.fixture
def dashboard(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/app.js"></script>'
    )
    (tmp_path / "assets" / "app.js").write_text("console.log('dashboard')")
    return tmp_path


@pytest.mark.parametrize(
    "path",
    ["/api", "/api/", "/api/v2/nothing", "/api/v1/streams/alpha/nothing", "/api/v1", "/ws", "/ws/nothing",
     "/ws/live/alpha", "/docs/nothing", "/docs/assets/missing.js"],
)  # fmt: skip
def test_unknown_api_paths_are_json_404_even_with_the_dashboard(
    make_api: Any, dashboard: Path, path: str
) -> None:
    api = make_api(dashboard_dir=dashboard)
    with api.client() as client:
        answer = client.get(path)
        page = client.get("/streams/alpha")  # a client-side route: the dashboard
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/json" and set(answer.json()) == {
        "detail",
        "request_id",
    }
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("mounted", [False, True])
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/v1/streams", "GET"),
        ("DELETE", "/api/v1/streams/alpha", "GET"),
        ("PUT", "/api/v1/admin/streams/alpha", "DELETE, PATCH"),
        ("POST", "/health", "GET"),
        ("POST", "/docs", "GET, HEAD"),
        ("POST", "/openapi.json", "GET, HEAD"),
    ],
)
def test_wrong_methods_are_405_with_the_allowed_ones(
    make_api: Any, dashboard: Path, mounted: bool, method: str, path: str, allow: str
) -> None:
    api = make_api(dashboard_dir=dashboard if mounted else None)
    with api.client() as client:
        answer = client.request(method, path)
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == allow
    assert set(answer.json()) == {"detail", "request_id"}


def test_wrong_methods_on_the_dashboard_are_405(make_api: Any, dashboard: Path) -> None:
    api = make_api(dashboard_dir=dashboard)
    with api.client() as client:
        answer = client.post("/streams/alpha")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, HEAD"


# -- 7. security headers and self-hosted docs ---------------------------------------------------------------
COMMON = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        if part.strip():
            name, *values = part.split()
            parsed[name] = values
    return parsed


def test_every_answer_carries_the_security_headers(make_api: Any, dashboard: Path) -> None:
    api = make_api(dashboard_dir=dashboard)
    with api.client(headers={"Host": "telemetra.example:8443"}) as client:
        answers = {
            "health": client.get("/health"),
            "list": client.get("/api/v1/streams"),
            "404": client.get("/api/v1/streams/nobody"),
            "422": client.get("/api/v1/streams/alpha/metrics", params={"limit": 0}),
            "401": client.delete("/api/v1/admin/streams/alpha"),
            "413": client.patch("/api/v1/admin/streams/alpha", content=b"x" * 70_000),
            "405": client.post("/api/v1/streams"),
            "metrics": client.get("/metrics"),
            "openapi": client.get("/openapi.json"),
            "docs": client.get("/docs"),
            "page": client.get("/"),
            "route": client.get("/streams/alpha"),
            "asset": client.get("/assets/app.js"),
        }
    for name, answer in answers.items():
        for header, value in COMMON.items():
            assert answer.headers.get(header) == value, (name, header)
        policy = directives(answer.headers["content-security-policy"])
        assert policy["frame-ancestors"] == ["'none'"], name
    for name in ("health", "list", "404", "422", "401", "413", "405", "metrics", "openapi"):
        assert directives(answers[name].headers["content-security-policy"])["default-src"] == ["'none'"], name
    page = directives(answers["page"].headers["content-security-policy"])
    assert page["default-src"] == ["'self'"] and page["script-src"] == ["'self'"]
    assert page["connect-src"] == ["'self'", "ws://telemetra.example:8443", "wss://telemetra.example:8443"]
    assert not any("unsafe" in value for values in page.values() for value in values)
    assert (
        answers["route"].headers["content-security-policy"]
        == answers["page"].headers["content-security-policy"]
    )
    docs = directives(answers["docs"].headers["content-security-policy"])
    assert docs["script-src"] == ["'self'"] and "'unsafe-inline'" not in docs.get("style-src", [])


def test_a_hostile_host_header_does_not_widen_the_dashboard_policy(make_api: Any, dashboard: Path) -> None:
    api = make_api(dashboard_dir=dashboard)
    with api.client(headers={"Host": "evil.example; script-src *"}) as client:
        policy = directives(client.get("/").headers["content-security-policy"])
    assert policy["connect-src"] == ["'self'"] and policy["script-src"] == ["'self'"]


def test_docs_are_self_hosted(api: Any) -> None:
    with api.client() as client:
        page = client.get("/docs")
        html = page.text
        sources = [part.split('"')[1] for part in html.split("src=")[1:]]
        styles = [part.split('"')[1] for part in html.split("href=")[1:]]
        assets = {url: client.get(url) for url in sources + styles}
    assert page.status_code == 200 and "swagger-ui" in html
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert "<script>" not in html  # no inline script: the page runs under script-src 'self'
    assert sources and styles and all(url.startswith("/docs/") for url in sources + styles)
    for url, answer in assets.items():
        assert answer.status_code == 200, url
        assert answer.headers["x-content-type-options"] == "nosniff"
    bundle = next(answer for url, answer in assets.items() if url.endswith("swagger-ui-bundle.js"))
    assert "SwaggerUIBundle" in bundle.text and bundle.headers["content-type"].startswith("text/javascript")
    init = next(answer for url, answer in assets.items() if url.endswith("init.js"))
    assert 'data-openapi="/openapi.json"' in html and "data-openapi" in init.text


# -- 8. chunked bodies ----------------------------------------------------------------------------------------
def chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    yield b'{"title": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


@pytest.mark.usefixtures("no_tracebacks")
def test_a_chunked_body_over_the_limit_is_413(api: Any) -> None:
    with api.client(headers={**bearer(ADMIN_TOKEN), "Content-Type": "application/json"}) as client:
        over = client.patch("/api/v1/admin/streams/alpha", content=chunks(70_000))
        under = client.patch("/api/v1/admin/streams/alpha", content=iter([b'{"title": ', b'"chunked"}']))
    assert over.status_code == 413 and over.json()["detail"] == "request body too large"
    assert under.status_code == 200 and under.json()["title"] == "chunked", under.text


# -- 9. stream ids on the WebSocket -----------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%00"])
async def test_a_stream_id_with_a_trailing_newline_is_refused(api: Any, suffix: str) -> None:
    async with connect(f"{api.server.ws_url}/ws/live/alpha{suffix}") as ws:
        with pytest.raises(ConnectionClosed) as refused:
            await ws_receive(ws)
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4422


def test_the_rest_api_refuses_a_trailing_newline_too(api: Any) -> None:
    with api.client() as client:
        answer = client.get("/api/v1/streams/alpha%0A")
        letters = client.get("/api/v1/dead-letters", params={"stream_id": "alpha\n"})
    assert answer.status_code == 422 and letters.status_code == 422
