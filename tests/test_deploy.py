"""deploy/k8s: the manifests parse and validate against the Kubernetes schemas, and match the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from vsnative.control.redis_backend import GROUP

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
    assert result.stdout.count("passed") == 5


def test_keda_scaler_watches_the_orphan_stream_of_the_manager_deployment() -> None:
    # The ScaledObject is a KEDA custom resource: its CRD schema is not among Kubernetes' own, so what it
    # must say is checked here against the code (stream key, consumer group, target Deployment).
    kinds = {(d["kind"], d["metadata"]["name"]): d for d in documents()}  # type: ignore[index]
    scaled = kinds[("ScaledObject", "vsnative-manager")]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "vsnative-manager"  # type: ignore[index]
    assert ("Deployment", "vsnative-manager") in kinds
    (trigger,) = spec["triggers"]  # type: ignore[index]
    assert trigger["type"] == "redis-streams"
    assert trigger["metadata"]["stream"] == "vsn:orphans"
    assert trigger["metadata"]["consumerGroup"] == GROUP
    assert int(trigger["metadata"]["lagCount"]) >= 1
    assert spec["minReplicaCount"] >= 1  # type: ignore[index]
