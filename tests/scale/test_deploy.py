"""The deployment files, checked offline: the compose file's structure, and the
Kubernetes manifests rendered with `kubectl kustomize` and validated against the
Kubernetes schemas."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.roomfile import load_rooms
from gateway.store.connect import client_from_url, parse_multi_host

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.30.0"
SLUIS_SERVICES = ("gateway1", "gateway2", "worker1", "worker2", "backend")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def test_compose_has_balancer_gateways_workers_sentinel_postgres_and_monitoring() -> None:
    services = compose()["services"]
    assert set(services) >= {"balancer", "gateway1", "gateway2", "worker1", "worker2",
                             "backend", "redis", "redis-replica", "sentinel1", "sentinel2",
                             "sentinel3", "postgres", "prometheus", "grafana"}
    for name, svc in services.items():
        assert svc.get("image"), f"{name} has no image"
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond == {"condition": "service_healthy"}
            assert services[dep].get("healthcheck"), f"{dep} cannot become healthy"
        for volume in svc.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
    for name in SLUIS_SERVICES:
        assert services[name]["image"] == "sluis:latest"
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert services[name]["stop_signal"] == "SIGTERM"


def test_compose_settings_point_at_the_services_that_exist() -> None:
    services = compose()["services"]
    balancer_ip = services["balancer"]["networks"]["sluis"]["ipv4_address"]
    for name in SLUIS_SERVICES:
        env = services[name]["environment"]
        url = parse_multi_host(env["SLUIS_REDIS_URL"])
        assert url.service == "mymaster"
        assert {host for host, _ in url.hosts} == {"sentinel1", "sentinel2", "sentinel3"}
        assert env["SLUIS_SECRET_KEYS"].startswith("${SLUIS_SECRET_KEYS:?")
        assert env["SLUIS_ADMIN_TOKEN"].startswith("${SLUIS_ADMIN_TOKEN:?")
        assert env["SLUIS_TRUSTED_PROXIES"] == balancer_ip
        assert env["SLUIS_INTERNAL_URL"] == "http://backend:8001"
        load_rooms(str(DEPLOY / "compose" / "rooms.toml"))
    assert services["backend"]["environment"]["SLUIS_DATABASE_URL"].startswith(
        "postgresql+asyncpg://sluis:")
    assert "--replicaof" in services["redis-replica"]["command"]
    lb = services["balancer"]["environment"]
    assert {lb["SLUIS_GATEWAY_1"], lb["SLUIS_GATEWAY_2"]} == {"gateway1:8000", "gateway2:8000"}
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == ["gateway1:8000", "gateway2:8000"]
    assert prometheus["scrape_configs"][0]["metrics_path"] == "/_sluis/metrics"
    sentinel = (DEPLOY / "compose" / "sentinel.sh").read_text()
    assert "sentinel monitor mymaster redis 6379 2" in sentinel


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed: the Kubernetes manifests are not rendered "
                    "(install kubectl to check deploy/k8s)")
    out = subprocess.run([kubectl, "kustomize", str(DEPLOY / "k8s" / overlay)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.mark.parametrize("overlay", ["base", "overlays/staging", "overlays/production"])
def test_kubernetes_manifests_render_and_match_the_schemas(overlay: str) -> None:
    docs = render(overlay)
    try:
        import kubernetes_validate
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("kubernetes-validate is missing (pip install -e '.[test]')")
        pytest.skip("kubernetes-validate is not installed")
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    by_kind: dict[tuple[str, str], dict[str, Any]] = {
        (d["kind"], d["metadata"]["name"]): d for d in docs}
    kinds = {kind for kind, _ in by_kind}
    assert kinds >= {"Deployment", "Service", "Ingress", "ConfigMap", "Secret",
                     "HorizontalPodAutoscaler", "CronJob", "Role", "RoleBinding",
                     "ServiceAccount", "PodDisruptionBudget"}
    names = {name for _, name in by_kind}
    for kind, name in list(by_kind):
        if kind != "Deployment":
            continue
        spec = by_kind[(kind, name)]["spec"]["template"]["spec"]
        for container in spec["containers"]:
            for source in container["envFrom"]:
                ref = source.get("configMapRef") or source.get("secretRef")
                assert ref["name"] in names, f"{name} refers to missing {ref['name']}"
    deployments = {name for kind, name in by_kind if kind == "Deployment"}
    assert deployments == {"sluis-gateway", "sluis-worker", "sluis-backend"}
    env = next(d for (k, n), d in by_kind.items() if k == "ConfigMap"
               and n.startswith("sluis-env"))["data"]
    client_from_url(env["SLUIS_REDIS_URL"])  # a URL form Sluis understands
    rooms = next(d for (k, n), d in by_kind.items() if k == "ConfigMap"
                 and n.startswith("sluis-rooms"))["data"]["rooms.toml"]
    assert tomllib.loads(rooms)["rooms"]
    secret = by_kind[("Secret", "sluis-secrets")]["stringData"]
    assert {"SLUIS_SECRET_KEYS", "SLUIS_ADMIN_TOKEN"} <= set(secret)
    hpa = by_kind[("HorizontalPodAutoscaler", "sluis-gateway")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "sluis-gateway"
    metrics = {m["type"]: m for m in hpa["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["External"]["external"]["metric"]["name"] == "sluis_queue_length"
    # The pre-scale: a CronJob whose account may patch exactly that HPA.
    up = by_kind[("CronJob", "sluis-prescale-up")]["spec"]
    pod = up["jobTemplate"]["spec"]["template"]["spec"]
    assert "kubectl patch hpa sluis-gateway" in " ".join(pod["containers"][0]["args"])
    role = by_kind[("Role", "sluis-prescale")]["rules"][0]
    assert role["resources"] == ["horizontalpodautoscalers"] and "patch" in role["verbs"]
    binding = by_kind[("RoleBinding", "sluis-prescale")]
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
    ingress = by_kind[("Ingress", "sluis")]["spec"]["rules"][0]["http"]["paths"][0]
    assert ingress["backend"]["service"]["name"] in names
