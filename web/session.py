"""The browser's session: the user's token kept in an HttpOnly cookie, standing in for the Authorization header.

The cookie carries the same JWT the API takes (minted by `cli.py token` or the identity platform), so the UI has
no second way in: pages verify it with the app's TokenVerifier, and API calls from the UI's scripts are turned
into ordinary bearer calls here, before the audit middleware records who made them.

Cross-site request forgery: the cookie is SameSite=Strict, and a state-changing API call authenticated by the
cookie must also carry `X-Xiaohao-UI: 1`, a header a form on another site cannot send (the browser would first ask
us with a CORS preflight, which this API never grants). Without it the call is refused 403 before it runs.
"""

from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import Problem, problem_response

COOKIE = "xiaohao_token"
CSRF_HEADER = "X-Xiaohao-UI"
CSRF_VALUE = "1"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The UI's own form posts (log in, log out) change no hazard and are made without scripts.
UI_PREFIX = "/ui/"


class CookieSession:
    """ASGI middleware: a request with the session cookie and no Authorization header is authenticated by the
    cookie. Installed outermost (web.install), so every layer below, the audit trail included, sees a bearer call."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = cookie_parser(headers.get("cookie", "")).get(COOKIE, "").strip()
        if not token or "authorization" in headers:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if (
            scope["method"] not in SAFE_METHODS
            and not path.startswith(UI_PREFIX)
            and headers.get(CSRF_HEADER) != CSRF_VALUE
        ):
            refused = Problem(
                403,
                "CsrfHeaderMissing",
                f"通过浏览器登录状态提交的操作须携带 {CSRF_HEADER} 请求头，请从本系统页面操作",
                title="请求来源未经确认",
            )
            await problem_response(refused, Request(scope))(scope, receive, send)
            return
        authenticated = dict(scope)
        authenticated["headers"] = [*scope["headers"], (b"authorization", f"Bearer {token}".encode("latin-1"))]
        await self.app(authenticated, receive, send)


def keep(response: Response, token: str, *, secure: bool) -> None:
    """Sets the session cookie: no script may read it, and no other site's page may send it."""
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")


def forget(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=secure, path="/")
