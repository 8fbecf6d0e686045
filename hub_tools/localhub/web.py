"""HTTP plumbing shared by the route modules: request bodies, error answers, streamed blobs, ranges."""
from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from hub_tools.localhub.errors import HubError, bad_request

CHUNK = 1024 * 1024
MAX_NDJSON_LINE = 64 * 1024 * 1024
MAX_JSON_BODY = 32 * 1024 * 1024  # JSON and form bodies (a preupload of 256 files is ~200 KiB)


class BlobResponse(Response):
    """Streams ``[start, end]`` of a blob file in 1 MiB chunks: memory stays flat for any file size."""

    def __init__(self, path, start: int, end: int, status: int, headers: dict[str, str], head_only: bool):
        super().__init__(status_code=status, headers=headers)
        self.path, self.start, self.end, self.head_only = path, start, end, head_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self.head_only or self.end < self.start:
            await send({"type": "http.response.body", "body": b""})
            return
        remaining = self.end - self.start + 1
        with open(self.path, "rb") as f:
            f.seek(self.start)
            while remaining > 0:
                chunk = f.read(min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        if remaining > 0:  # file shorter than recorded: end the body rather than hang
            await send({"type": "http.response.body", "body": b""})

    def init_headers(self, headers=None) -> None:  # keep our Content-Length, add nothing
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]


def header_safe(text: str, limit: int = 1000) -> str:
    """Printable ASCII only: a CR/LF or NUL taken from a request path must never reach a header."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:limit]


def error_response(err: HubError) -> Response:
    headers = {"X-Error-Message": header_safe(err.message)}
    if err.code:
        headers["X-Error-Code"] = err.code
    if err.commit:
        headers["X-Repo-Commit"] = err.commit
    return JSONResponse({"error": err.message}, status_code=err.status, headers=headers)


def split_rev(segs: list[str]) -> tuple[str, list[str]]:
    """First segment(s) are the revision; an unquoted ``refs/heads/x`` spans three segments."""
    if len(segs) >= 3 and segs[0] == "refs" and segs[1] in ("heads", "tags", "pr", "convert"):
        return "/".join(segs[:3]), segs[3:]
    return segs[0], segs[1:]


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def read_body(request: Request, limit: int = MAX_JSON_BODY) -> bytes:
    """The whole body, refused with 413 past ``limit`` bytes (checked on Content-Length and while reading)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise HubError(413, f"Request body of {declared} bytes is over the limit of {limit} bytes for this route")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HubError(413, f"Request body is over the limit of {limit} bytes for this route")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, default: dict | None = None) -> dict:
    raw = await read_body(request)
    if not raw.strip():
        if default is not None:
            return default
        raise bad_request("Expected a JSON body")
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad_request("The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object")
    return data


async def ndjson_lines(request: Request):
    """Yield the non-empty lines of a streamed NDJSON body, holding at most one line in memory."""
    buffer = b""
    async for chunk in request.stream():
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
        if len(buffer) > MAX_NDJSON_LINE:
            raise bad_request("A commit payload line is larger than 64 MiB: send large files as LFS")
    if buffer.strip():
        yield buffer
