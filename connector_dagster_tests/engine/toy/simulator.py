"""The toy system's service on loopback: notes to read, copies to write (JSON)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NOTES = [
    {"key": "N-1", "day": "2026-10-03", "text": "first", "version": "1"},
    {"key": "N-2", "day": "2026-10-20", "text": "second", "version": "1"},
    {"key": "N-3", "day": "2026-11-02", "text": "next month", "version": "1"},
]


class ToyService:
    def __init__(self, token: str) -> None:
        self.token = token
        self.copies: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                service.calls.append(f"{method} {urlsplit(self.path).path}")
                if self.headers.get("Authorization") != f"Bearer {service.token}":
                    return self._answer(401, {"error": "no token"})
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if method == "GET" and url.path == "/notes":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    rows = [n for n in NOTES if q["start"] <= n["day"] < q["end"]]
                    return self._answer(200, rows)
                if method == "GET" and url.path == "/copies":
                    return self._answer(200, list(service.copies.values()))
                if method == "POST" and url.path == "/copies":
                    ident = str(len(service.copies) + 1)
                    service.copies[ident] = {"id": ident, **body}
                    return self._answer(201, service.copies[ident])
                ident = url.path.rsplit("/", 1)[-1]
                if method == "PUT" and ident in service.copies:
                    service.copies[ident] = {"id": ident, **body}
                    return self._answer(200, service.copies[ident])
                if method == "DELETE" and service.copies.pop(ident, None):
                    return self._answer(200, {})
                return self._answer(404, {"error": url.path})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"
