"""The supervisors' web UI (zh-CN): server-rendered pages under /ui, every asset served by the app itself."""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from web.pages import STATIC_DIR, router
from web.session import CookieSession

STATIC_PREFIX = "/ui/static"


def install(app: FastAPI) -> None:
    """Pages, their static files and the cookie session. Call after the audit middleware is installed: the
    session must be the outermost layer, so the audit trail records who a cookie-authenticated call is."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_middleware(CookieSession)
