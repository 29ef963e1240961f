"""OpenAI-compatible servers on 127.0.0.1 for the tests: a scripted fake and a counting proxy.

Both record every request they receive, so tests count calls at the server side.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class RecordingServer:
    """A threaded HTTP server on 127.0.0.1; ``respond(path, body) -> (status, dict, headers)``."""

    def __init__(self, respond: Callable[[str, dict], tuple[int, dict, dict]]):
        self.respond = respond
        self.requests: list[tuple[str, dict]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body leave in two segments: +40 ms a reply

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._reply(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]}, {})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append((self.path, body))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, payload, headers = server.respond(self.path, body)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                self._reply(status, payload, headers)

            def _reply(self, status, payload, headers):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def count(self, path_suffix: str = "/chat/completions") -> int:
        with self._lock:
            return sum(1 for path, _ in self.requests if path.endswith(path_suffix))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(text: str, *, logprobs: list | None = None, prompt_tokens: int = 10) -> dict:
    """An OpenAI chat.completion body."""
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = {
            "content": [
                {"token": tops[0][0], "logprob": tops[0][1], "bytes": None,
                 "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in tops]}
                for tops in logprobs
            ]
        }
    return {
        "id": "cmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": "fake",
        "choices": [choice],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 5, "total_tokens": prompt_tokens + 5},
    }


class FakeLLM(RecordingServer):
    """A scripted OpenAI-compatible server: ``answer(messages, body) -> str`` writes each reply.

    ``faults`` maps a request number (0-based, counted over chat requests) to ``(status, headers)``
    to answer that request with an error instead.
    """

    def __init__(self, answer: Callable[[list, dict], str], *, latency: float = 0.0,
                 faults: dict[int, tuple[int, dict]] | None = None, embed_dim: int = 8):
        self.answer = answer
        self.latency = latency
        self.faults = faults or {}
        self.embed_dim = embed_dim
        super().__init__(self._respond)

    def _respond(self, path, body):
        if self.latency:
            time.sleep(self.latency)
        if path.endswith("/embeddings"):
            import hashlib
            data = []
            for i, text in enumerate(body["input"]):
                seed = hashlib.sha256(text.encode()).digest()
                data.append({"object": "embedding", "index": i,
                             "embedding": [b / 255 for b in seed[: self.embed_dim]]})
            return 200, {"object": "list", "data": data, "model": body["model"],
                         "usage": {"prompt_tokens": len(data), "total_tokens": len(data)}}, {}
        n = self.count() - 1
        if n in self.faults:
            status, headers = self.faults[n]
            return status, {"error": {"message": "injected fault", "type": "server_error"}}, headers
        text = self.answer(body["messages"], body)
        if body.get("logprobs"):
            first = text.strip().split()[0] if text.strip() else ""
            other = "No" if first.lower().startswith("yes") else "Yes"
            return 200, completion(text, logprobs=[[(first, -0.1), (other, -2.4)]]), {}
        return 200, completion(text), {}


class CountingProxy(RecordingServer):
    """Forwards every request to ``upstream`` (e.g. the llama.cpp server) and records it."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        super().__init__(self._forward)

    def _forward(self, path, body):
        request = urllib.request.Request(
            self.upstream + path.removeprefix("/v1"), data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, response.read(), {}
        except urllib.error.HTTPError as error:
            return error.code, error.read(), {}
