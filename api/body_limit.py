"""A size limit on request bodies other than uploads: an action's JSON is a few kilobytes, so a body of a
megabyte is a mistake or an attack, and is answered 413 before the app reads it into memory or stores anything.
Uploads (multipart: evidence, ledgers) stream to limits of their own (api.routers.evidence, api.routers.imports).
"""

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import Problem, problem_response

MAX_BODY_BYTES = 1024 * 1024


def too_large(limit: int) -> Problem:
    detail = f"请求体超过 {limit // 1024} KiB 的上限"
    return Problem(413, "PayloadTooLarge", detail, title="请求体过大", max_bytes=limit)


class BodyLimit:
    """ASGI middleware: reads a non-multipart body up to `max_bytes` (so a chunked body without Content-Length is
    bounded too) and hands it on, or answers 413 without calling the app."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets carry no body (nor headers, for lifespan)
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("content-type", "").startswith("multipart/form-data"):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: nothing to answer.
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(too_large(self.max_bytes), Request(scope, receive))
        # The rest of the body is never read: the connection closes after the answer.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
