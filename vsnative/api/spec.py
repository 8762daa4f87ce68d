"""What each route takes and answers, declared where the route is (`ApiRoutes`), as pydantic models; the
OpenAPI document (openapi.py) is rendered from these declarations and the app's route table, and the
handlers read their queries (`query`) and send their answers (`reply`) through the same models.

    routes = ApiRoutes()

    @routes.get("/api/cameras/{camera_id}/clips", summary="...", query=TimeRange, answers={200: ClipList},
                errors=(400, 401, 404))
    async def list_clips(request): ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from vsnative.log import redact

Handler = TypeVar("Handler", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Content:
    """A body that is not JSON (a JPEG, an MP4, an SDP, a playlist), or a JSON body with no model."""

    media_type: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    headers: Mapping[str, str] = field(default_factory=dict)  # header name -> what it says


BINARY = {"type": "string", "format": "binary"}


@dataclass(frozen=True)
class Redirect:
    """A 3xx to `Location`."""

    description: str


#: what a status answers: a model (JSON), another body, a redirect, or a description alone (no body)
Answer = type[BaseModel] | Content | Redirect | str


@dataclass(frozen=True)
class Operation:
    summary: str
    answers: Mapping[int, Answer]
    errors: tuple[int, ...] = ()  # statuses answered with the `Error` model
    query: type[BaseModel] | None = None
    body: type[BaseModel] | Content | None = None
    body_omits: tuple[str, ...] = ()  # body fields that the URL already names (PUT/PATCH: the id)
    description: str | None = None
    public: bool = False  # no bearer token needed


class ApiRoutes:
    """A `web.RouteTableDef` whose every route declares its `Operation`; `create_app` adds `table` to the
    router and the operations to the document."""

    def __init__(self) -> None:
        self.table = web.RouteTableDef()
        self.operations: dict[tuple[str, str], Operation] = {}

    def route(self, method: str, path: str, operation: Operation) -> Callable[[Handler], Handler]:
        self.operations[(method.lower(), path)] = operation
        register = self.table.route(method, path)

        def add(handler: Handler) -> Handler:
            register(handler)
            return handler

        return add

    def get(self, path: str, summary: str, **details: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, Operation(summary, **details))

    def post(self, path: str, summary: str, **details: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, Operation(summary, **details))

    def put(self, path: str, summary: str, **details: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, Operation(summary, **details))

    def patch(self, path: str, summary: str, **details: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, Operation(summary, **details))

    def delete(self, path: str, summary: str, **details: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, Operation(summary, **details))


def reply(
    model: type[BaseModel], answer: BaseModel | Mapping[str, Any], status: int = 200, **response: Any
) -> web.Response:
    """`answer` (a model, or a dict read through `model`: what the model does not describe is left out)
    as the JSON body; `response` goes to `web.json_response` (headers)."""
    checked = answer if isinstance(answer, model) else model.model_validate(answer)
    # pydantic's own JSON writer (Rust): faster than json.dumps of the dicts it replaced (bench/api_models.py)
    return web.Response(
        body=checked.model_dump_json().encode(), status=status, content_type="application/json", **response
    )


def query(request: web.Request, model: type[M]) -> M:
    """The request's query read through `model` (a parameter repeated is joined with commas); 400 naming
    what is wrong."""
    values = {key: ",".join(request.query.getall(key)) for key in request.query}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        reason = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(query)'}: {redact(err['msg'])}"
            for err in exc.errors()
        )
        raise web.HTTPBadRequest(text=f"bad query: {reason}") from exc
