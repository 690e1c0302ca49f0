"""A tiny real HTTP server speaking the OpenAI chat API, scripted per test: it answers with a given reply, slowly,
with garbage, or with errors, and records every request it got."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    """``reply(request_json) -> str`` gives the content; ``mode`` is ok, slow, garbage or error (HTTP 500);
    ``ok_first`` answers that many chat requests normally before ``mode`` applies."""

    reply: Callable[[dict], str] = lambda _request: "OK [1]."
    mode: str = "ok"
    delay_s: float = 0.0
    ok_first: int = 0
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
            pass

        def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self._send(200, json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}).encode())

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with script.lock:
                script.requests.append(request)
                n = len(script.requests)
            mode = "ok" if n <= script.ok_first else script.mode
            if mode == "slow":
                time.sleep(script.delay_s)
            if mode == "garbage":
                return self._send(200, b"\x00\xff<html>502 Bad Gateway</html> {not json", "text/html")
            if mode == "error":
                return self._send(500, b'{"error": {"message": "model crashed"}}')
            content = script.reply(request)
            body = {"id": f"c{n}", "object": "chat.completion", "created": 0, "model": "scripted",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
            try:
                self._send(200, json.dumps(body).encode())
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                pass

    return Handler


@contextmanager
def scripted_llm(script: Script) -> Iterator[str]:
    """Serve ``script`` on a free localhost port; yields the ``/v1`` base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
