"""The OpenAPI document describes exactly the routes the application serves."""

from __future__ import annotations

from typing import cast

from vsnative.api import Services, create_app
from vsnative.api.openapi import document


def served_routes() -> set[tuple[str, str]]:
    app = create_app(cast(Services, None))  # route table only: no handler runs
    routes = set()
    for route in app.router.routes():
        info = route.get_info()
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            routes.add((route.method.lower(), str(path)))
    return routes


def documented_routes() -> set[tuple[str, str]]:
    return {(method, path) for path, ops in document()["paths"].items() for method in ops}


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    assert served_routes() == documented_routes()


def test_every_operation_documents_its_responses() -> None:
    for path, ops in document()["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (method, path)
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path
