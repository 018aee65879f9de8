"""The preview's web app (Starlette): one page, its state, its events and its downloads.

Routes (GET only; no path from a request reaches the file system, every name is checked against
the fixed choices or the loaded program by `choices`):

- `/`, `/static/preview.js`, `/static/preview.css`: the page, shipped in the package.
- `/state?model=&block=&style=&by=`: the page state as JSON (`state.page_state`); 400 for an
  unknown name.
- `/events`: server-sent events, `change` with the new version after each save.
- `/download?fmt=&model=&block=&style=&by=`: a figure (svg, pdf, png, tikz) or cost table
  (text, markdown, csv, latex, json) as an attachment; 400 for an unknown name, 409 while the
  program does not load.

Every response carries a Content-Security-Policy (scripts and styles from the page's own files
only), `nosniff`, no referrer and no framing; requests whose Host is not 127.0.0.1 or localhost
are refused (a web page elsewhere cannot reach the server by DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incept_dsl.errors import InceptError, UsageError
from incept_dsl.preview.choices import Refused, download_format, file_name
from incept_dsl.preview.render import download
from incept_dsl.preview.state import checked_view, page_state
from incept_dsl.preview.watch import Changes, watch_program
from incept_dsl.preview.workspace import Workspace, error_text

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
#: The page's files: route -> (file in `incept_dsl/preview/static`, media type).
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/preview.js": ("preview.js", "text/javascript; charset=utf-8"),
    "/static/preview.css": ("preview.css", "text/css; charset=utf-8"),
}
#: Seconds between two keep-alive comments on the event stream.
PING_S = 15


class SecurityHeaders:
    """ASGI middleware that adds `SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def _static(name: str, media_type: str) -> Any:
    body = resources.files("incept_dsl.preview").joinpath("static", name).read_bytes()

    async def serve(_request: Request) -> Response:
        return Response(body, media_type=media_type)

    return serve


def _refused(err: Refused) -> JSONResponse:
    return JSONResponse({"error": str(err)}, status_code=400)


def _routes(ws: Workspace, changes: Changes) -> list[Route]:
    """The routes of the app (see the module docstring)."""

    async def state(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(page_state, ws, request.query_params))
        except Refused as err:
            return _refused(err)

    async def events(request: Request) -> Response:
        from sse_starlette import EventSourceResponse

        async def stream() -> AsyncIterator[dict[str, str]]:
            seen = changes.version
            yield {"event": "change", "data": str(seen)}
            while not await request.is_disconnected():
                now = await changes.after(seen, 1.0)
                if now > seen:
                    seen = now
                    yield {"event": "change", "data": str(now)}

        return EventSourceResponse(stream(), ping=PING_S)

    async def get_download(request: Request) -> Response:
        try:
            fmt = download_format(request.query_params)
            return await run_in_threadpool(_download, ws, request.query_params, fmt)
        except Refused as err:
            return _refused(err)

    pages = [Route(path, _static(*STATIC[path])) for path in STATIC]
    return pages + [
        Route("/state", state),
        Route("/events", events),
        Route("/download", get_download),
    ]


def _download(ws: Workspace, query: Any, fmt: str) -> Response:
    view, model = checked_view(ws, query)
    if isinstance(model, str):
        return PlainTextResponse(model, status_code=409)
    try:
        body, media_type = download(model, view, fmt)
    except (InceptError, UsageError) as err:
        return PlainTextResponse(error_text(err), status_code=409)
    name = file_name(view.model, view, fmt)
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media_type, headers=headers)


def create_app(
    ws: Workspace, watch: bool = True, hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> Starlette:
    """The app serving `ws`; `watch` starts the file watcher for the app's lifetime."""
    changes = Changes(ws.version)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(watch_program(ws, changes, stop)) if watch else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    middleware = [
        Middleware(SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts)),
    ]
    app = Starlette(routes=_routes(ws, changes), middleware=middleware, lifespan=lifespan)
    app.state.changes = changes
    return app
