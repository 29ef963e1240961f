"""A fake of the OpenAI Batch API on 127.0.0.1 (``/v1/files``, ``/v1/batches``,
``/v1/files/{id}/content``) on top of :class:`servers.FakeLLM`: the same scripted answers, so a
batch run and a synchronous run give the same answers.

A batch goes ``validating`` -> ``in_progress`` (``polls_in_progress`` status checks) ->
``completed``; its output file holds one line per request (a chat completion, or an error for the
lines ``fail_line(custom_id, body)`` picks, which go to the error file). ``expire=True`` ends the
batch ``expired`` with only the first ``expire_after`` lines answered.
"""

from __future__ import annotations

import json
import re
import threading
import time
from email.parser import BytesParser
from email.policy import default as default_policy

from servers import FakeLLM, completion


class BatchServer(FakeLLM):
    def __init__(self, answer, *, polls_in_progress: int = 2, fail_line=None, expire: bool = False,
                 expire_after: int = 0, echo_key_on_upload: bool = False, **options):
        super().__init__(answer, **options)
        self.files: dict[str, dict] = {}      # id -> {"purpose", "data": bytes}
        self.batches: dict[str, dict] = {}    # id -> the batch object (a dict)
        self.uploads = 0
        self.creates = 0
        self.retrieves = 0
        self.lists = 0  # GET /batches (ChatModel's check that the Batch API is there)
        self.polls_in_progress = polls_in_progress
        self.fail_line = fail_line
        self.expire = expire
        self.expire_after = expire_after
        self.echo_key_on_upload = echo_key_on_upload
        self._ids = 0
        self._batch_lock = threading.Lock()
        server, base = self, self.httpd.RequestHandlerClass

        class Handler(base):
            def do_GET(self):
                status, payload = server._get(self.path)
                self._reply(status, payload, {})

            def do_POST(self):
                if self.path.rstrip("/").endswith("/files") and server.echo_key_on_upload:
                    self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    shown = self.headers.get("Authorization", "")
                    self._reply(401, {"error": {"message": f"Incorrect API key provided: {shown}",
                                                "type": "invalid_request_error"}}, {})
                    return
                if self.path.rstrip("/").endswith("/files"):
                    length = int(self.headers.get("Content-Length", 0))
                    raw = self.rfile.read(length)
                    message = BytesParser(policy=default_policy).parsebytes(
                        b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
                    fields = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                              for part in message.iter_parts()}
                    fields["filename"] = next((part.get_filename() for part in message.iter_parts()
                                               if part.get_filename()), "upload.jsonl").encode()
                    with server._lock:
                        server.requests.append((self.path, {"purpose": fields.get("purpose", b"").decode()}))
                    self._reply(200, server._upload(fields), {})
                    return
                super().do_POST()

        self.httpd.RequestHandlerClass = Handler

    def _new_id(self, prefix: str) -> str:
        with self._batch_lock:
            self._ids += 1
            return f"{prefix}-{self._ids}"

    def _upload(self, fields: dict) -> dict:
        file_id = self._new_id("file")
        self.uploads += 1
        data = fields.get("file") or b""
        self.files[file_id] = {"purpose": (fields.get("purpose") or b"").decode(), "data": data,
                               "filename": fields["filename"].decode()}
        return self._file_object(file_id)

    def _file_object(self, file_id: str) -> dict:
        f = self.files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(f["data"]), "created_at": int(time.time()),
                "filename": f.get("filename", "output.jsonl"), "purpose": f["purpose"], "status": "processed"}

    def _respond(self, path, body):
        if path.rstrip("/").endswith("/batches"):
            self.creates += 1
            lines = [json.loads(line) for line in self.files[body["input_file_id"]]["data"].decode().splitlines()
                     if line.strip()]
            batch_id = self._new_id("batch")
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                "status": "validating", "output_file_id": None, "error_file_id": None,
                "created_at": int(time.time()), "metadata": body.get("metadata"),
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "_lines": lines, "_polls": 0,
            }
            return 200, self._public(self.batches[batch_id]), {}
        return super()._respond(path, body)

    @staticmethod
    def _public(batch: dict) -> dict:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _get(self, path: str):
        path = path.split("?")[0].rstrip("/")
        if path.endswith("/batches"):
            self.lists += 1
            return 200, {"object": "list", "data": [self._public(b) for b in self.batches.values()],
                         "has_more": False}
        if path.endswith("/files"):
            return 200, {"object": "list", "data": [self._file_object(i) for i in self.files], "has_more": False}
        match = re.search(r"/batches/([^/]+)$", path)
        if match:
            self.retrieves += 1
            batch = self.batches[match.group(1)]
            self._advance(batch)
            return 200, self._public(batch)
        match = re.search(r"/files/([^/]+)/content$", path)
        if match:
            return 200, self.files[match.group(1)]["data"]
        return 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]}

    def _advance(self, batch: dict) -> None:
        if batch["status"] in ("completed", "expired"):
            return
        batch["_polls"] += 1
        if batch["status"] == "validating":
            batch["status"] = "in_progress"
            return
        if batch["_polls"] <= self.polls_in_progress:
            return
        out, errors = [], []
        lines = batch["_lines"][: self.expire_after] if self.expire else batch["_lines"]
        for line in lines:
            body = line["body"]
            if self.fail_line and self.fail_line(line["custom_id"], body):
                errors.append({"id": f"req-{len(errors)}", "custom_id": line["custom_id"],
                               "response": {"status_code": 500, "request_id": "r",
                                            "body": {"error": {"message": "injected line failure",
                                                               "type": "server_error"}}},
                               "error": None})
                continue
            reply = completion(self.answer(body["messages"], body))
            out.append({"id": f"req-{len(out)}", "custom_id": line["custom_id"],
                        "response": {"status_code": 200, "request_id": "r", "body": reply}, "error": None})
        for name, records in (("output_file_id", out), ("error_file_id", errors)):
            if records:
                file_id = self._new_id("file")
                self.files[file_id] = {"purpose": "batch_output",
                                       "data": ("\n".join(json.dumps(r) for r in records) + "\n").encode()}
                batch[name] = file_id
        batch["request_counts"] = {"total": len(batch["_lines"]), "completed": len(out), "failed": len(errors)}
        batch["status"] = "expired" if self.expire else "completed"

    def sent_lines(self) -> list[dict]:
        """Every request line of every uploaded batch input file."""
        return [json.loads(line) for f in self.files.values() if f["purpose"] == "batch"
                for line in f["data"].decode().splitlines() if line.strip()]
