"""The smallest honest stand-in for the GCS JSON API parts the catalog uses, with generation preconditions.

gcp-storage-emulator ignores `ifGenerationMatch`, so the catalog's compare-and-swap cannot be tested on it.
This server implements, on 127.0.0.1, exactly what google-cloud-storage sends for them (STORAGE_EMULATOR_HOST
points the client here):

- objects.get (metadata), and media download (`alt=media`, also under /download/...);
- objects.insert by media upload (`uploadType=media`) and multipart upload (`uploadType=multipart`,
  multipart/related: JSON metadata part, then the data part);
- objects.list with `prefix`, `maxResults` and `pageToken`; buckets.insert and buckets.get;
- preconditions `ifGenerationMatch` (0: the object must not exist) and `ifGenerationNotMatch` on get, download
  and insert: a mismatch is `412 conditionNotMet`, a missing object `404 notFound`, in the JSON API's error
  shape `{"error": {"code", "message", "errors": [{"domain", "reason", "message", ...}]}}`.

Generations are a per-server counter (microsecond-like increasing integers, as GCS's are increasing).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

PRECONDITION_MESSAGE = "At least one of the pre-conditions you specified did not hold."


def error_body(code: int, reason: str, message: str, **extra: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": [{"message": message, "domain": "global",
                                                                   "reason": reason, **extra}]}}  # fmt: skip


@dataclass
class _Object:
    data: bytes
    generation: int
    metageneration: int
    content_type: str
    updated: str


@dataclass
class GcsState:
    buckets: dict[str, dict[str, _Object]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    generations: itertools.count = field(default_factory=lambda: itertools.count(1_700_000_000_000_001))
    requests: list[tuple[str, str]] = field(default_factory=list)


def _resource(bucket: str, name: str, obj: _Object) -> dict[str, Any]:
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{obj.generation}",
        "selfLink": f"/storage/v1/b/{bucket}/o/{quote(name, safe='')}",
        "name": name,
        "bucket": bucket,
        "generation": str(obj.generation),
        "metageneration": str(obj.metageneration),
        "contentType": obj.content_type,
        "size": str(len(obj.data)),
        "md5Hash": base64.b64encode(hashlib.md5(obj.data).digest()).decode(),
        "crc32c": _crc32c(obj.data),
        "timeCreated": obj.updated,
        "updated": obj.updated,
        "storageClass": "STANDARD",
    }


def _crc32c(data: bytes) -> str:
    import google_crc32c

    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any] | bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _precondition(self, query: dict[str, str], current: _Object | None) -> tuple[int, dict[str, Any]] | None:
        """The JSON API's answer when a precondition fails, else None."""
        generation = current.generation if current else 0
        if "ifGenerationMatch" in query:
            wanted = int(query["ifGenerationMatch"])
            if current is None and wanted != 0:
                return 404, error_body(404, "notFound", "No such object.")
            if wanted != generation:
                return 412, error_body(412, "conditionNotMet", PRECONDITION_MESSAGE,
                                       locationType="header", location="If-Match")  # fmt: skip
        if "ifGenerationNotMatch" in query and int(query["ifGenerationNotMatch"]) == generation:
            return 304, {}
        return None

    def _route(self, method: str) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path.removeprefix("/download").removeprefix("/upload")
        state.requests.append((method, self.path))
        segments = [unquote(s) for s in path.strip("/").split("/")]
        # /storage/v1/b[/<bucket>[/o[/<object>]]]
        if segments[:2] != ["storage", "v1"] or len(segments) < 3 or segments[2] != "b":
            self._send(404, error_body(404, "notFound", f"Not Found: {parts.path}"))
            return
        if len(segments) == 3:
            if method == "POST":
                name = json.loads(self._body())["name"]
                with state.lock:
                    if name in state.buckets:
                        self._send(409, error_body(409, "conflict", "Your previous request to create the named "
                                                   "bucket succeeded and you already own it."))  # fmt: skip
                        return
                    state.buckets[name] = {}
                self._send(200, {"kind": "storage#bucket", "name": name, "id": name})
                return
            self._send(405, error_body(405, "methodNotAllowed", "Method not allowed"))
            return
        bucket = segments[3]
        if bucket not in state.buckets:
            self._body()
            self._send(404, error_body(404, "notFound", "The specified bucket does not exist."))
            return
        objects = state.buckets[bucket]
        if len(segments) == 4:
            self._send(200, {"kind": "storage#bucket", "name": bucket, "id": bucket})
            return
        if len(segments) == 5 and method == "POST":
            self._insert(bucket, objects, query)
            return
        if len(segments) == 5 and method == "GET":
            self._list(bucket, objects, query)
            return
        name = "/".join(segments[5:])
        if method == "GET":
            with state.lock:
                current = objects.get(name)
                failed = self._precondition(query, current)
            if failed:
                self._send(*failed)
            elif current is None:
                self._send(404, error_body(404, "notFound", f"No such object: {bucket}/{name}"))
            elif query.get("alt") == "media":
                self._send(200, current.data, current.content_type,
                           {"X-Goog-Generation": str(current.generation)})  # fmt: skip
            else:
                self._send(200, _resource(bucket, name, current))
            return
        if method == "DELETE":
            with state.lock:
                current = objects.get(name)
                failed = self._precondition(query, current)
                if not failed and current is not None:
                    del objects[name]
            if failed:
                self._send(*failed)
            elif current is None:
                self._send(404, error_body(404, "notFound", f"No such object: {bucket}/{name}"))
            else:
                self._send(204, b"", "text/plain")
            return
        self._send(405, error_body(405, "methodNotAllowed", "Method not allowed"))

    def _insert(self, bucket: str, objects: dict[str, _Object], query: dict[str, str]) -> None:
        body = self._body()
        upload = query.get("uploadType", "")
        content_type = self.headers.get("Content-Type", "application/octet-stream")
        if upload == "media":
            name, data, meta = query.get("name", ""), body, {}
        elif upload == "multipart":
            message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
            meta_part, data_part = list(message.iter_parts())
            meta = json.loads(meta_part.get_payload(decode=True))
            data = data_part.get_payload(decode=True)
            name = meta.get("name") or query.get("name", "")
            content_type = meta.get("contentType") or data_part.get_content_type()
        else:
            self._send(400, error_body(400, "invalid", f"unsupported uploadType {upload!r} in this stand-in"))
            return
        if not name:
            self._send(400, error_body(400, "required", "Required"))
            return
        state = self.server.state
        with state.lock:
            failed = self._precondition(query, objects.get(name))
            if failed is None:
                now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                stored = _Object(data, next(state.generations), 1, content_type, now)
                objects[name] = stored
        if failed:
            self._send(*failed)
        else:
            self._send(200, _resource(bucket, name, stored))

    def _list(self, bucket: str, objects: dict[str, _Object], query: dict[str, str]) -> None:
        prefix = query.get("prefix", "")
        limit = int(query.get("maxResults") or 1000)
        start = query.get("pageToken", "")
        with self.server.state.lock:
            names = sorted(n for n in objects if n.startswith(prefix) and n > start)
            page = names[:limit]
            items = [_resource(bucket, n, objects[n]) for n in page]
        body: dict[str, Any] = {"kind": "storage#objects", "items": items}
        if len(names) > limit:
            body["nextPageToken"] = page[-1]
        self._send(200, body)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PUT(self) -> None:
        self._route("PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: GcsState


class GcsStandin:
    """Running on `endpoint` (http://127.0.0.1:<port>) until `stop()`."""

    def __init__(self) -> None:
        self.state = GcsState()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
