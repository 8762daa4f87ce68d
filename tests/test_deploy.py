"""deploy/k8s: the manifests parse and validate against the Kubernetes schemas, and match the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from aiohttp.web import RouteDef

from vsnative.api import cluster
from vsnative.api.cluster import managers_needed

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"


def documents() -> list[dict[str, object]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_core_manifests_validate_against_kubernetes_schemas() -> None:
    core = [str(p) for p in sorted(K8S.glob("*.yaml")) if "keda" not in p.name]
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0", *core],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == 6


def test_keda_sizes_the_managers_to_the_cameras_they_must_own() -> None:
    # The ScaledObject is a KEDA custom resource: its CRD schema is not among Kubernetes' own, so what it
    # must say is checked here against the code (the route and field it reads, the target Deployment).
    kinds = {(d["kind"], d["metadata"]["name"]): d for d in documents()}  # type: ignore[index]
    scaled = kinds[("ScaledObject", "vsnative-manager")]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec: Any = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "vsnative-manager"
    deployment: Any = kinds[("Deployment", "vsnative-manager")]
    service: Any = kinds[("Service", "vsnative-manager")]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "metrics-api"
    assert trigger["metricType"] == "AverageValue"
    url = urlparse(trigger["metadata"]["url"])
    assert str(url.hostname).split(".")[0] == service["metadata"]["name"]
    assert url.port == service["spec"]["ports"][0]["port"]
    assert url.path in {route.path for route in cluster.routes.table if isinstance(route, RouteDef)}
    assert trigger["metadata"]["valueLocation"] == "managersNeeded"
    assert trigger["metadata"]["targetValue"] == "1"  # replicas = managersNeeded
    assert spec["minReplicaCount"] >= 1
    assert "lagCount" not in trigger["metadata"]


@pytest.mark.parametrize(
    ("cameras", "slots", "pods"),
    [(0, 8, 1), (1, 8, 1), (8, 8, 1), (9, 8, 2), (100, 8, 13), (5, 1, 5)],
)
def test_the_formula_never_asks_fewer_pods_than_the_cameras_need(cameras: int, slots: int, pods: int) -> None:
    assert managers_needed(cameras, slots) == pods
    assert managers_needed(cameras, slots) * slots >= cameras
