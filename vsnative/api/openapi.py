"""`GET /api/openapi.json`: the HTTP API in OpenAPI 3.1, rendered from what each route declares
(`spec.Operation`: its query, body and answers as pydantic models) and the app's route table; nothing in
it is written by hand but the words."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal, TypeGuard

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaValue, models_json_schema

from vsnative import __version__
from vsnative.api.keys import OPERATIONS
from vsnative.api.schemas import ID_PATTERN, Error
from vsnative.api.spec import ApiRoutes, Content, Operation, Redirect

routes = ApiRoutes()
Mode = Literal["validation", "serialization"]
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "camera_id": {"type": "string", "pattern": ID_PATTERN},
    "at": {"type": "string", "pattern": "^[0-9]{1,16}$"},
}
REASONS = {
    400: "bad request",
    401: "missing or wrong token",
    404: "not found",
    409: "conflict",
    413: "body too large",
    415: "wrong content type",
    503: "not now (see Retry-After)",
}
REF = "#/components/schemas/{model}"


class Renderer:
    """Renders operations; every model met is put in `components.schemas` once, by its name."""

    def __init__(self, operations: Mapping[tuple[str, str], Operation]) -> None:
        self.operations = operations
        used: set[tuple[type[BaseModel], Mode]] = {(Error, "serialization")}
        for op in operations.values():
            used.update((m, "serialization") for m in op.answers.values() if _is_model(m))
            if _is_model(op.body):
                used.add((op.body, "validation"))
        refs, defs = models_json_schema(sorted(used, key=lambda u: (u[0].__name__, u[1])), ref_template=REF)
        self.refs: dict[tuple[type[BaseModel], Mode], JsonSchemaValue] = dict(refs)  # type: ignore[arg-type]
        self.schemas: dict[str, Any] = defs.get("$defs", {})

    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for (method, path), op in sorted(self.operations.items(), key=lambda item: item[0][::-1]):
            paths.setdefault(path, {})[method] = self.operation(path, op)
        return {
            "openapi": "3.1.0",
            "info": {"title": "vsnative", "version": __version__},
            "components": {
                "schemas": self.schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}, {}],
            "paths": paths,
        }

    def operation(self, path: str, op: Operation) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": op.summary}
        if op.description:
            out["description"] = op.description
        if op.public:
            out["security"] = []
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": PATH_PARAMETERS.get(name, {"type": "string"}),
            }
            for name in re.findall(r"{(\w+)}", path)
        ]
        if op.query is not None:
            parameters += query_parameters(op.query)
        if parameters:
            out["parameters"] = parameters
        if op.body is not None:
            out["requestBody"] = {"required": True, "content": self.body(op)}
        responses = {str(status): self.answer(status, answer) for status, answer in op.answers.items()}
        for status in op.errors:
            responses[str(status)] = self.json(self.refs[(Error, "serialization")], REASONS[status])
        out["responses"] = responses
        return out

    def body(self, op: Operation) -> dict[str, Any]:
        if isinstance(op.body, Content) or op.body is None:
            return {} if op.body is None else {op.body.media_type: {"schema": dict(op.body.schema)}}
        name = op.body.__name__
        schema: dict[str, Any] = {"$ref": REF.format(model=name)}
        if op.body_omits:  # the URL names them: the body's own copy without them
            schema = copy.deepcopy(self.schemas[name])
            for omitted in op.body_omits:
                schema["properties"].pop(omitted, None)
            schema["required"] = [r for r in schema.get("required", []) if r not in op.body_omits]
            schema["propertyNames"] = {"not": {"enum": list(op.body_omits)}}
        return {"application/json": {"schema": schema}}

    def answer(self, status: int, answer: Any) -> dict[str, Any]:
        if isinstance(answer, str):
            return {"description": answer}
        if isinstance(answer, Redirect):
            return {
                "description": answer.description,
                "headers": {"Location": {"schema": {"type": "string"}}},
            }
        if isinstance(answer, Content):
            out: dict[str, Any] = {
                "description": answer.description,
                "content": {answer.media_type: {"schema": dict(answer.schema)}},
            }
            if answer.headers:
                out["headers"] = {
                    name: {"description": text, "schema": {"type": "string"}}
                    for name, text in answer.headers.items()
                }
            return out
        return self.json(self.refs[(answer, "serialization")], HTTPStatus(status).phrase)

    @staticmethod
    def json(schema: JsonSchemaValue, description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as OpenAPI query parameters (an optional one is absent, never null)."""
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        options = prop.pop("anyOf", None)
        if options is not None:
            kept = [o for o in options if o != {"type": "null"}]
            prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
            description = description or prop.pop("description", None)
        if "default" in prop and prop["default"] is None:
            del prop["default"]
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        parameters.append(param)
    return parameters


def _is_model(value: object) -> TypeGuard[type[BaseModel]]:
    return isinstance(value, type) and issubclass(value, BaseModel)


def document(operations: Mapping[tuple[str, str], Operation]) -> dict[str, Any]:
    return Renderer(operations).document()


@routes.get(
    "/api/openapi.json",
    "this document",
    answers={200: Content("application/json", "OpenAPI 3.1", {"type": "object"})},
)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[OPERATIONS]))
