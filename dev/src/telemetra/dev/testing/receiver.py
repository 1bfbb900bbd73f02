"""A webhook receiver on 127.0.0.1 for the alert tests and benchmark: a real HTTP/1.1 server (keep-alive) in a
thread, recording every request. It also plays Discord's execute-webhook API well enough for the dispatcher:
``POST …?wait=true`` answers a message with an id, ``PATCH …/messages/{id}`` edits it.

    python -m telemetra.dev.testing.receiver [--port N]    # prints RECEIVER_URL=…; GET /_stats for counts
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

from telemetra.dev.localstack.process import free_port


@dataclass(frozen=True, slots=True)
class Received:
    at: float  # time.time() when the request was read
    method: str
    path: str  # with the query
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    """``start()``/``stop()`` may be called repeatedly (the port stays the same), so a test can take the
    receiver down and bring it back. ``status`` is what it answers (200 by default), after ``delay_s``
    (a slow destination)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.requests: list[Received] = []
        self.status = 200
        self.delay_s = 0.0
        self._ids = itertools.count(1_234_567_890_000_000_001)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "GET" and self.path == "/_stats":
                    self._answer(200, orjson.dumps(receiver.stats()))
                    return
                status, answer = receiver.answer(self.command, self.path, body)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver._lock:
                    receiver.requests.append(
                        Received(time.time(), self.command, self.path, dict(self.headers.items()), body)
                    )
                self._answer(status, answer)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = _handle  # http.server's naming

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.status >= 300:
            return self.status, b'{"message": "not now"}'
        parts = urlsplit(path)
        if (
            method == "POST" and "wait=true" in parts.query
        ):  # Discord's execute webhook, answering the message
            return 200, orjson.dumps({"id": str(next(self._ids)), "type": 0, **orjson.loads(body or b"{}")})
        if method == "PATCH" and "/messages/" in parts.path:
            return 200, orjson.dumps({"id": parts.path.rsplit("/", 1)[-1], **orjson.loads(body or b"{}")})
        return self.status, b"ok" if method == "POST" else b"{}"

    def received(self, path_prefix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def stats(self) -> dict[str, Any]:
        """Every request's path, idempotency key and arrival time (the benchmark's side of the clock)."""
        with self._lock:
            arrivals = [(r.path, r.headers.get("Idempotency-Key"), r.at) for r in self.requests]
        return {"count": len(arrivals), "arrivals": arrivals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    receiver = Receiver(args.port).start()
    print(f"RECEIVER_URL={receiver.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()
