"""The observer's web app (Starlette): pages, their live streams, /metrics, and actions.

Pages are shells that ``static/observer.js`` fills from one server-sent
event stream each: the server computes the page's data once per tick and
sends it only when it changed, and the stream ends with a ``stopped`` event
when the node shuts down. Actions (restart a service, terminate a process
or workflow, send a message) answer 403 unless the observer was started
with them on.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from actors.errors import ActorError

__all__ = ["LiveStreams", "metrics_app", "observer_app"]

log = logging.getLogger("luactor")

_STATIC = resources.files("actors.observe") / "static"


class LiveStreams:
    """The open event streams of an observer, and the signal that ends them all."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.stopped = trio.Event()
        self.open = 0     # streams being served now (a page that went away must not leave one behind)

    async def events(self, compute: Callable[[], Any]) -> AsyncIterator[str]:
        """``compute()``'s result as an SSE ``data`` event whenever it changes, then ``stopped``."""
        self.open += 1
        try:
            last = None
            while True:
                try:
                    data = json.dumps(compute(), default=str, sort_keys=True)
                except ActorError as error:
                    data = json.dumps({"problem": error.message})
                if data != last:
                    yield f"data: {data}\n\n"
                    last = data
                if self.stopped.is_set():
                    yield "event: stopped\ndata: {}\n\n"
                    return
                with trio.move_on_after(self.interval):
                    await self.stopped.wait()
        finally:
            self.open -= 1


def metrics_app(metrics: Any) -> Starlette:
    """An app serving ``/metrics`` alone."""
    return Starlette(routes=[Route("/metrics", _metrics_endpoint(metrics))])


def _metrics_endpoint(metrics: Any) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)
    return endpoint


def observer_app(view: Any, streams: LiveStreams, *, actions: bool = False, metrics: Any = None) -> Starlette:
    """The observer of ``view`` (a NodeView or StoreView)."""

    async def overview(request: Request) -> Response:
        return _page(view, "overview", "", actions)

    async def process_page(request: Request) -> Response:
        pid = request.path_params["pid"]
        if view.process(pid) is None:
            return _not_found(view, f"no process {pid} is running")
        return _page(view, "process", pid, actions)

    async def workflow_page(request: Request) -> Response:
        workflow_id = request.path_params["id"]
        if view.workflow(workflow_id) is None:
            return _not_found(view, f"no workflow {workflow_id!r} in the store")
        return _page(view, "workflow", workflow_id, actions)

    async def stream(request: Request) -> Response:
        params = request.query_params
        kind, key = params.get("view", "overview"), params.get("key", "")
        sort, query = params.get("sort", "mailbox"), params.get("q", "")

        def compute() -> Any:
            if kind == "process":
                return {"process": view.process(key)}
            if kind == "workflow":
                return {"workflow": view.workflow(key)}
            return {"hosts": view.hosts(), "services": view.services(), "processes": view.processes(sort),
                    "workflows": view.workflows(query)}
        return StreamingResponse(streams.events(compute), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def act(request: Request) -> Response:
        if not actions:
            return JSONResponse({"error": "actions are off: start the observer with --observe-actions"}, 403)
        what = request.path_params["action"]
        try:
            body = await request.json()
            if what == "restart-service":
                await view.restart_service(body["id"])
            elif what == "terminate-process":
                await view.terminate(body["pid"])
            elif what == "terminate-workflow":
                await view.terminate_workflow(body["id"])
            elif what == "send":
                await view.send(body["dest"], body["topic"], body.get("payload"))
            else:
                return JSONResponse({"error": f"no action {what!r}"}, 404)
        except ActorError as error:
            return JSONResponse({"error": error.message}, 404 if error.kind == "NotFound" else 400)
        except (KeyError, TypeError, ValueError) as error:
            return JSONResponse({"error": f"bad request for {what}: {error}"}, 400)
        log.info("observer: %s %s", what, body)
        return JSONResponse({"ok": True})

    async def not_found(request: Request, exc: Exception) -> Response:
        return _not_found(view, f"nothing at {request.url.path}")

    routes = [
        Route("/", overview),
        Route("/process/{pid:path}", process_page),
        Route("/workflow/{id:path}", workflow_page),
        Route("/api/stream", stream),
        Route("/api/actions/{action}", act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(_STATIC)), name="static"),
    ]
    if metrics is not None:
        routes.append(Route("/metrics", _metrics_endpoint(metrics)))
    return Starlette(routes=routes, exception_handlers={404: not_found})


def _page(view: Any, kind: str, key: str, actions: bool = False, status: int = 200, message: str = "") -> HTMLResponse:
    title = html.escape(view.title)
    body = (f'<main id="view" data-view="{kind}" data-key="{html.escape(key)}" '
            f'data-stream="/api/stream?view={kind}&amp;key={quote(key, safe="")}"></main>')
    if message:
        body = f'<main id="view" data-view="missing"><h2>Not found</h2><p class="problem">{html.escape(message)}</p>' \
               f'<p><a href="/">back to the overview</a></p></main>'
    return HTMLResponse(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>luactor observer: {title}</title>
<link rel="stylesheet" href="/static/observer.css"></head>
<body data-actions="{str(actions).lower()}"><header><a href="/"><b>luactor observer</b></a> <span id="title">{title}</span>
<span id="status" class="live">connecting…</span></header>
{body}
<script src="/static/observer.js"></script></body></html>""", status_code=status)


def _not_found(view: Any, message: str) -> HTMLResponse:
    return _page(view, "missing", "", status=404, message=message)
