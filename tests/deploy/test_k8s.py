"""deploy/k8s: every manifest parses, validates against the Kubernetes API schemas
(shipped inside the `kubernetes-validate` wheel: no network), and the files agree with
each other and with the hub (settings, CLI, the template runner's address)."""

from __future__ import annotations

import asyncio
import stat
import uuid
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hub.cli import _parser
from hub.config import Settings
from hub.local_hub.daemon.config import parser as local_hub_parser
from hub.local_hub.link import Link
from hub.local_hub.runner_template import TemplateRunner, derive_token
from tests.deploy.test_template_runner import free_port
from tests.fixtures.local_hub import start_local_hub

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
# The oldest Kubernetes still commonly run, and the newest the package knows.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
PROJECT_ID = uuid.UUID("6a1c1b8e-2f4b-4c1a-9a49-5d0c6f1a2b3c")


def manifests() -> list[Path]:
    found = sorted(K8S.rglob("*.yaml"))
    assert found, f"no manifests under {K8S}"
    return found


def render(path: Path) -> str:
    """The project template as `envsubst` fills it in; other files are used as they are."""
    text = path.read_text()
    return text.replace("${PROJECT_ID}", str(PROJECT_ID)).replace("${PROJECT_TOKEN}", "ab" * 32)


def documents(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(render(path)) if d is not None]
    assert docs, f"{path} holds no document"
    return docs


def find(kind: str, name: str | None = None) -> dict[str, Any]:
    for path in manifests():
        for doc in documents(path):
            if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name):
                return doc
    raise AssertionError(f"no {kind} {name or ''} in deploy/k8s")


@pytest.mark.parametrize("path", manifests(), ids=lambda p: str(p.relative_to(K8S)))
@pytest.mark.parametrize("version", VERSIONS)
def test_manifest_is_valid_kubernetes(path: Path, version: str) -> None:
    assert "${" not in render(path), "a placeholder the project template does not fill"
    for doc in documents(path):
        assert doc["metadata"].get("name"), doc
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_catches_mistakes() -> None:
    """The check above means something: a typo'd field and a wrong type both fail."""
    deployment = find("Deployment", "hub")
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, VERSIONS[0], strict=True)
    wrong = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, VERSIONS[0], strict=True)


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    for c in workload["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            result: dict[str, Any] = c
            return result
    raise AssertionError(f"no container {name}")


def test_hub_deployment_probes_resources_and_settings(tmp_path: Path) -> None:
    deployment = find("Deployment", "hub")
    hub = container(deployment, "hub")
    port = hub["ports"][0]
    assert (port["name"], port["containerPort"]) == ("http", 5000)
    assert hub["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert hub["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert "tcpSocket" in hub["livenessProbe"]  # a database outage must not restart hubs
    assert hub["resources"]["requests"] and hub["resources"]["limits"]
    assert hub["securityContext"]["allowPrivilegeEscalation"] is False
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True

    args = _parser().parse_args(hub["args"])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", "5000")

    env = {e["name"]: e for e in hub["env"]}
    for name in env:
        assert name.startswith("HUB_") and name[4:].lower() in Settings.docs(), name
    secret_ref = env["HUB_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert secret_ref["key"] in find("Secret", secret_ref["name"])["stringData"]

    # SIGTERM handling fits in the pod's grace: preStop sleep + the hub's shutdown grace.
    grace = float(env["HUB_SHUTDOWN_GRACE_S"]["value"])
    pre_stop = float(hub["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= (
        pre_stop + grace + 10
    )

    # The settings load as the hub would load them from this environment.
    plain = {name: e["value"] for name, e in env.items() if "value" in e}
    settings = Settings.load(environ=plain)
    assert settings.project_runner == "template"

    # The key file the hub is told about is where the Secret is mounted.
    mounts = {m["name"]: m["mountPath"] for m in hub["volumeMounts"]}
    volume = next(
        v
        for v in deployment["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "project-token-key"
    )
    item = volume["secret"]["items"][0]
    assert settings.project_token_key_file == f"{mounts['project-token-key']}/{item['path']}"
    assert item["key"] in find("Secret", volume["secret"]["secretName"])["stringData"]


def test_the_hubs_template_finds_the_project_service(tmp_path: Path) -> None:
    """The address the template runner makes is the project Service's DNS name and port,
    and that port reaches the container port the local hub listens on."""
    hub = container(find("Deployment", "hub"), "hub")
    template = next(e["value"] for e in hub["env"] if e["name"] == "HUB_PROJECT_ADDRESS_TEMPLATE")
    key = tmp_path / "key"
    key.write_text("0123456789abcdef0123456789abcdef")
    address = TemplateRunner(template, key).address_now(PROJECT_ID)

    service = find("Service", f"project-{PROJECT_ID}")
    meta = service["metadata"]
    assert address.host == f"{meta['name']}.{meta['namespace']}.svc.cluster.local"
    service_port = service["spec"]["ports"][0]
    assert address.port == service_port["port"]

    statefulset = find("StatefulSet", f"project-{PROJECT_ID}")
    pod = statefulset["spec"]["template"]
    assert all(pod["metadata"]["labels"][k] == v for k, v in service["spec"]["selector"].items())
    local_hub = container(statefulset, "local-hub")
    named = {p["name"]: p["containerPort"] for p in local_hub["ports"]}
    args = local_hub_parser().parse_args(local_hub["args"][3:])  # after `python -m hub.local_hub`
    assert local_hub["args"][:3] == ["python", "-m", "hub.local_hub"]
    assert named[service_port["targetPort"]] == args.port
    assert args.host == "0.0.0.0"
    assert local_hub["readinessProbe"]["tcpSocket"]["port"] == service_port["targetPort"]


def test_the_project_pod_gets_its_token_before_the_local_hub_starts() -> None:
    statefulset = find("StatefulSet", f"project-{PROJECT_ID}")
    pod = statefulset["spec"]["template"]["spec"]
    init = pod["initContainers"][0]
    script = " ".join(init["command"])
    assert "/home/user/.smc/secret_token" in script and "umask 077" in script
    token_volume = next(v for v in pod["volumes"] if v["name"] == "token")
    secret = find("Secret", token_volume["secret"]["secretName"])
    assert set(secret["stringData"]) == {"token"}
    # Only the init step sees the token Secret; the project's own container does not.
    assert all(m["name"] != "token" for m in container(statefulset, "local-hub")["volumeMounts"])
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_only_hubs_reach_the_local_hubs() -> None:
    policy = find("NetworkPolicy")
    rule = policy["spec"]["ingress"][0]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6000}]
    peer = rule["from"][0]
    hub_labels = find("Deployment", "hub")["spec"]["template"]["metadata"]["labels"]
    assert peer["podSelector"]["matchLabels"].items() <= hub_labels.items()
    assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "hub"


async def test_the_project_pods_init_step_and_command_work_here(tmp_path: Path) -> None:
    """Run the init step's script and the local hub's arguments from project.yaml (paths
    moved into a temporary directory); the hub's derived token opens the link."""
    statefulset = find("StatefulSet", f"project-{PROJECT_ID}")
    init = statefulset["spec"]["template"]["spec"]["initContainers"][0]
    home, token_dir = tmp_path / "home", tmp_path / "token"
    home.mkdir()
    token_dir.mkdir()
    key = b"0123456789abcdef0123456789abcdef"
    (token_dir / "token").write_text(derive_token(key, PROJECT_ID))
    script = init["command"][2]
    script = script.replace("/home/user", str(home)).replace("/run/project-token", str(token_dir))
    for _ in range(2):  # and again, as after a pod restart
        proc = await asyncio.create_subprocess_exec(*init["command"][:2], script)
        assert await proc.wait() == 0
    token_file = home / ".smc" / "secret_token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700

    args = container(statefulset, "local-hub")["args"]
    port = free_port()
    flags = local_hub_parser().parse_args(args[3:])
    assert (flags.home, flags.port) == ("/home/user", 6000)
    key_file = tmp_path / "key"
    key_file.write_bytes(key)
    runner = TemplateRunner(f"127.0.0.1:{port}", key_file)
    async with start_local_hub(home, "--host", "127.0.0.1", "--port", str(port)):
        address = await runner.start(PROJECT_ID)
        link = await Link.connect(address.host, address.port, address.secret_token)
        link.close()
