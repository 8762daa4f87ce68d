"""The OpenAPI document is rendered from the routes' declarations: it describes exactly the routes the
application serves, with the models the handlers answer with."""

from __future__ import annotations

import json
import re
from typing import Any, cast

import jsonschema
import pytest
from aiohttp import web

from vsnative.api import Services, create_app
from vsnative.api.auth import needs_token
from vsnative.api.keys import OPERATIONS
from vsnative.api.openapi import document
from vsnative.api.schemas import AgentList, ClipList, EventList


def app() -> web.Application:
    return create_app(cast(Services, None))  # route table only: no handler runs


def doc() -> dict[str, Any]:
    return document(app()[OPERATIONS])


def served_routes() -> set[tuple[str, str]]:
    routes = set()
    for route in app().router.routes():
        info = route.get_info()
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            routes.add((route.method.lower(), str(path)))
    return routes


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in doc()["paths"].items() for method, op in ops.items()]


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    assert served_routes() == {(method, path) for method, path, _ in operations()}


def test_every_operation_documents_its_answers_and_its_path_parameters() -> None:
    for method, path, op in operations():
        assert op["summary"], (method, path)
        assert any(code.startswith("2") for code in op["responses"]), (method, path)
        named = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert named == set(re.findall(r"{(\w+)}", path)), (method, path)


def test_the_document_says_which_routes_need_the_token_as_the_middleware_does() -> None:
    for method, path, op in operations():
        assert (op.get("security") != []) == needs_token(path.split("{")[0]), (method, path)


def test_every_reference_resolves_and_the_document_is_json() -> None:
    text = json.dumps(doc())
    schemas = doc()["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert refs
    assert refs <= set(schemas)
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)


def validator(model: str) -> jsonschema.Draft202012Validator:
    """The document's schema of a model, its references resolved within the document."""
    full = doc()
    schema = {"$ref": f"#/components/schemas/{model}", "components": full["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_the_models_answers_validate_against_the_document_and_a_wrong_one_does_not() -> None:
    clips = ClipList(cameraId="cam", start="a", end="b", clips=[], gaps=[]).model_dump(mode="json")
    validator("ClipList").validate(clips)
    with pytest.raises(jsonschema.ValidationError):
        validator("ClipList").validate({**clips, "clips": [{"start": 1}]})
    with pytest.raises(jsonschema.ValidationError):  # a field the document does not describe
        validator("ClipList").validate({**clips, "undescribed": 1})
    validator("EventList").validate(EventList(events=[]).model_dump(mode="json"))
    agents = AgentList(maxAgents=1, manager="m", agents=[], unreachable=[]).model_dump(mode="json")
    validator("AgentList").validate(agents)
    with pytest.raises(jsonschema.ValidationError):
        validator("AgentList").validate({**agents, "maxAgents": "one"})


def test_query_parameters_are_never_null_and_times_have_their_pattern() -> None:
    for method, path, op in operations():
        for param in op.get("parameters", []):
            assert {"type": "null"} not in param["schema"].get("anyOf", []), (method, path, param)
            if param["name"] in ("start", "end"):
                assert param["schema"]["type"] == "string", (method, path)
                assert param["schema"]["pattern"], (method, path)
