"""Write and admin endpoints behind bearer tokens (static and JWT), private reads, CORS and body limits."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from telemetra.dev.testing.services import ADMIN_TOKEN, READ_TOKEN, WRITE_TOKEN, ws_receive
from telemetra.services.output import ServiceOutput

SECRET = "jwt-secret-for-tests-0123456789abcdef"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token(scope: str, *, expires_in: float = 60, secret: str = SECRET, **claims: Any) -> str:
    payload = {"sub": "tester", "scope": scope, "exp": int(time.time() + expires_in), **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


# -- static tokens, over every store × cache ----------------------------------------------------------------
def test_updating_a_stream_needs_a_write_token(api: Any) -> None:
    body = {"title": "Speedrun any%", "category": "Games"}
    path = "/api/v1/admin/streams/alpha"
    with api.client() as client:
        missing = client.patch(path, json=body)
        wrong = client.patch(path, json=body, headers=bearer("not-a-token-at-all"))
        reader = client.patch(path, json=body, headers=bearer(READ_TOKEN))
        writer = client.patch(path, json=body, headers=bearer(WRITE_TOKEN))
        listed = client.get("/api/v1/streams").json()["items"]
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid or expired token"
    assert reader.status_code == 403 and reader.json()["detail"] == "scope 'write' required"
    assert writer.status_code == 200
    assert (writer.json()["title"], writer.json()["category"]) == ("Speedrun any%", "Games")
    assert next(s for s in listed if s["stream_id"] == "alpha")["title"] == "Speedrun any%"


def test_update_validation(api: Any) -> None:
    with api.client(headers=bearer(ADMIN_TOKEN)) as client:
        unknown = client.patch("/api/v1/admin/streams/nobody-here", json={"title": "x"})
        too_long = client.patch("/api/v1/admin/streams/alpha", json={"title": "x" * 301})
        extra = client.patch("/api/v1/admin/streams/alpha", json={"owner": "me"})
        huge = client.patch("/api/v1/admin/streams/alpha", content=b"{" + b" " * 70_000 + b"}")
    assert unknown.status_code == 404
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "title"]
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "owner"]
    assert huge.status_code == 413 and huge.json()["detail"] == "request body too large"


def test_deleting_a_stream_needs_an_admin_token(api: Any) -> None:
    with api.client() as client:
        assert client.delete("/api/v1/admin/streams/gamma", headers=bearer(WRITE_TOKEN)).status_code == 403
        deleted = client.delete("/api/v1/admin/streams/gamma", headers=bearer(ADMIN_TOKEN))
        gone = client.get("/api/v1/streams/gamma")
        again = client.delete("/api/v1/admin/streams/gamma", headers=bearer(ADMIN_TOKEN))
        listed = [s["stream_id"] for s in client.get("/api/v1/streams").json()["items"]]
    assert deleted.status_code == 204 and deleted.content == b""
    assert gone.status_code == 404 and again.status_code == 404
    assert "gamma" not in listed


def test_an_idle_stream_is_listed_as_offline(api: Any) -> None:
    """``live`` means the engine reported the stream within ``live_after_s``: a stream last seen two hours
    ago is offline (written here with a clock two hours behind)."""
    old = next(w for w in api.data.windows if w.stream_id == "beta")

    async def write() -> None:
        state = api.server.state
        sink = ServiceOutput(state.store, state.cache, clock=lambda: time.time() - 7200)
        await sink.write_windows([type(old)(**{**old.to_dict(), "stream_id": "sleepy"})])

    api.server.run(write())
    with api.client() as client:
        offline = client.get("/api/v1/streams", params={"live": "false"}).json()["items"]
        online = client.get("/api/v1/streams", params={"live": "true"}).json()["items"]
    assert [s["stream_id"] for s in offline] == ["sleepy"]
    assert "sleepy" not in [s["stream_id"] for s in online]


# -- JWT, private reads, CORS (backend-independent: SQLite + in-process) ----------------------------------
def test_jwt_scopes(make_api: Any) -> None:
    api = make_api(jwt_secret=SECRET, jwt_audience="telemetra")
    good = token("read write", aud="telemetra")
    with api.client() as client:
        path = "/api/v1/admin/streams/alpha"
        assert (
            client.patch(path, json={"title": "t"}, headers=bearer(good)).status_code == 404
        )  # allowed; no data
        reader = token("read", aud="telemetra")
        assert client.patch(path, json={"title": "t"}, headers=bearer(reader)).status_code == 403
        expired = token("admin", expires_in=-10, aud="telemetra")
        assert client.patch(path, json={"title": "t"}, headers=bearer(expired)).status_code == 401
        forged = token("admin", secret="another-secret-of-sufficient-length", aud="telemetra")
        assert client.patch(path, json={"title": "t"}, headers=bearer(forged)).status_code == 401
        wrong_audience = token("admin", aud="someone-else")
        assert client.patch(path, json={"title": "t"}, headers=bearer(wrong_audience)).status_code == 401
        listed = token("admin", aud="telemetra")
        assert client.delete("/api/v1/admin/streams/nobody", headers=bearer(listed)).status_code == 404


async def test_private_reads_need_a_read_token(make_api: Any, dataset: Any) -> None:
    api = make_api(data=dataset, public_reads=False)
    with api.client() as client:
        assert client.get("/api/v1/streams").status_code == 401
        assert client.get("/api/v1/streams", headers=bearer(READ_TOKEN)).status_code == 200
        assert client.get("/api/v1/streams/alpha/metrics", headers=bearer(WRITE_TOKEN)).status_code == 200
        assert client.get("/health").status_code == 200  # probes stay open
        document = client.get("/openapi.json").json()
    assert document["paths"]["/api/v1/streams"]["get"]["security"] == [{"HTTPBearer": []}]
    async with connect(f"{api.server.ws_url}/ws/live/alpha") as ws:
        with pytest.raises(ConnectionClosed) as refused:
            await ws_receive(ws)
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4401
    async with connect(f"{api.server.ws_url}/ws/live/alpha?access_token={READ_TOKEN}") as ws:
        assert (await ws_receive(ws))["type"] == "snapshot"
    async with connect(f"{api.server.ws_url}/ws/live/alpha", additional_headers=bearer(READ_TOKEN)) as ws:
        assert (await ws_receive(ws))["type"] == "snapshot"


def test_public_reads_are_documented_without_security(api: Any) -> None:
    with api.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "security" not in paths["/api/v1/streams"]["get"]
    assert paths["/api/v1/admin/streams/{stream_id}"]["delete"]["security"] == [{"HTTPBearer": []}]


def test_cors_origins_from_settings(make_api: Any) -> None:
    api = make_api(cors_origins="https://dash.example, https://other.example")
    preflight = {"Access-Control-Request-Method": "GET", "Origin": "https://dash.example"}
    with api.client() as client:
        allowed = client.options("/api/v1/streams", headers=preflight)
        denied = client.get("/api/v1/streams", headers={"Origin": "https://evil.example"})
        simple = client.get("/api/v1/streams", headers={"Origin": "https://other.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
    assert "access-control-allow-origin" not in denied.headers
    assert simple.headers["access-control-allow-origin"] == "https://other.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
