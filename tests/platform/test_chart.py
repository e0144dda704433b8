"""The Helm chart hands each workload only its own secrets. `helm` is not available here, so the
templates are read as text: which Secret documents exist with which keys, and which of them each
workload's containers load."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from linli.platform.settings import Settings

CHART = Path(__file__).resolve().parents[2] / "helm" / "linli"
TEMPLATES = CHART / "templates"


def secret_documents(template: str) -> dict[str, set[str]]:
    """Secret name suffix ('' for the shared one, '-api', ...) -> the LINLI_* keys it holds."""
    secrets: dict[str, set[str]] = {}
    for document in (TEMPLATES / template).read_text().split("\n---\n"):
        if "kind: Secret" not in document:
            continue
        name = re.search(r"^  name: \{\{ \$name \}\}(\S*)$", document, re.M)
        assert name is not None, document
        secrets[name.group(1)] = set(re.findall(r"^  (LINLI_[A-Z_]+):", document, re.M))
    return secrets


def workload_secrets(template: str) -> str:
    """Which workload's Secret a container template loads (through the `linli.envFrom` helper)."""
    found = re.findall(
        r'include "linli\.envFrom" \(dict "root" \. "workload" "(\w+)"\)', (TEMPLATES / template).read_text()
    )
    assert len(found) == 1, template
    return str(found[0])


def test_each_workload_gets_only_its_own_database_role() -> None:
    helpers = (TEMPLATES / "_helpers.tpl").read_text()
    assert '{{ include "linli.secretName" .root }}-{{ .workload }}' in helpers
    secrets = secret_documents("secret.yaml")
    shared = secrets.pop("")
    assert set(secrets) == {"-api", "-worker"}
    environment = {
        component: shared | secrets[f"-{workload_secrets(template)}"]
        for component, template in (
            ("api", "api-deployment.yaml"),
            ("worker", "worker-deployment.yaml"),
            ("ingest", "ingest-statefulset.yaml"),
            ("ingest-http", "ingest-http-deployment.yaml"),
        )
    }
    assert "LINLI_DATABASE_URL" in environment["api"]
    # The API reads telemetry through a scoped definer function; HTTP ingest is its own workload.
    assert "LINLI_WORKER_DATABASE_URL" not in environment["api"]
    for component in ("worker", "ingest", "ingest-http"):
        assert "LINLI_WORKER_DATABASE_URL" in environment[component]
        assert not {"LINLI_DATABASE_URL", "LINLI_DATA_KEYS", "LINLI_SEARCH_KEY"} & environment[component], component
    administrative = {"LINLI_MIGRATE_DATABASE_URL", "LINLI_API_ROLE_PASSWORD", "LINLI_WORKER_ROLE_PASSWORD"}
    for component, keys in environment.items():
        assert not administrative & keys, component
    # The administrative URL lives only in the migrate job's own Secret.
    [migrate] = secret_documents("migrate-job.yaml").values()
    assert administrative | {"LINLI_SECRET_KEY"} <= migrate
    holders = [p.name for p in TEMPLATES.iterdir() if "LINLI_MIGRATE_DATABASE_URL" in p.read_text()]
    assert holders == ["migrate-job.yaml"]
    # Every key is a setting the application reads.
    every_key = set().union(shared, *secrets.values(), migrate)
    assert {k.removeprefix("LINLI_").lower() for k in every_key} <= set(Settings.model_fields)


def test_redis_needs_a_password_given_as_a_secret() -> None:
    shared = secret_documents("secret.yaml")[""]
    assert "LINLI_REDIS_URL" in shared
    assert "LINLI_REDIS_URL" not in (TEMPLATES / "configmap.yaml").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert "redisUrl" not in values["settings"] and values["secrets"]["redisUrl"] == ""
    assert re.search(
        r'required "secrets\.redisUrl is required[^"]*" \$s\.redisUrl', (TEMPLATES / "secret.yaml").read_text()
    )


def component_of(template: str, kind: str) -> str:
    """The `app.kubernetes.io/component` a Service selects or a Deployment's pods carry."""
    text = (TEMPLATES / template).read_text()
    assert re.search(rf"^kind: {kind}$", text, re.M), template
    found = set(re.findall(r'include "linli\.selector" \(dict "root" \. "component" "([\w-]+)"\)', text))
    assert len(found) == 1, (template, found)
    return found.pop()


def test_http_ingest_is_its_own_workload_behind_the_ingress() -> None:
    deployment = (TEMPLATES / "ingest-http-deployment.yaml").read_text()
    assert 'args: ["serve"]' in deployment and 'include "linli.image" .' in deployment
    assert workload_secrets("ingest-http-deployment.yaml") == "worker"
    assert component_of("ingest-http-deployment.yaml", "Deployment") == "ingest-http"
    service = (TEMPLATES / "ingest-http-service.yaml").read_text()
    assert 'name: {{ include "linli.fullname" . }}-ingest-http' in service
    assert component_of("ingest-http-service.yaml", "Service") == "ingest-http"
    # Exactly the ingest path (not /api/v1/ingest/dead-letters, an API route) goes to that Service.
    routes = re.findall(
        r"- path: (\S+)\n\s+pathType: (\w+)\n\s+backend:\n\s+service:\n\s+"
        r'name: \{\{ include "linli\.fullname" \. \}\}(\S+)',
        (TEMPLATES / "ingress.yaml").read_text(),
    )
    assert sorted(routes) == [("/", "Prefix", "-api"), ("/api/v1/ingest", "Exact", "-ingest-http")]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["ingestHttp"]["replicas"] >= 1


def test_attachments_never_live_in_a_per_pod_volume_behind_several_api_replicas() -> None:
    # values.schema.json refuses local storage without a claim behind several API pods (rendered in
    # tests/helm/test_chart_render.py). That case is the only one with an emptyDir for attachments; s3
    # mounts no storage volume at all.
    helpers = (TEMPLATES / "_helpers.tpl").read_text()
    volumes = helpers.split('{{- define "linli.volumes" -}}')[1].split("{{- end -}}")[0]
    assert re.search(
        r'\{\{- if eq \.Values\.storage\.backend "local" \}\}\n- name: storage\n'
        r"\{\{- if \.Values\.storage\.existingClaim \}\}\n  persistentVolumeClaim:\n.*\n\{\{- else \}\}\n"
        r"  emptyDir: \{\}\n\{\{- end \}\}\n\{\{- end \}\}",
        volumes,
    )
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["api"]["replicas"] > 1 and values["storage"]["backend"] == "s3"


def test_the_s3_backend_gets_its_bucket_from_the_configmap_and_its_keys_from_a_secret_only_the_api_loads() -> None:
    configmap = (TEMPLATES / "configmap.yaml").read_text()
    assert re.search(r'LINLI_S3_BUCKET: \{\{ required "storage\.s3\.bucket is required[^"]*"', configmap)
    configured = set(re.findall(r"^  (LINLI_[A-Z0-9_]+):", configmap, re.M))
    assert {"LINLI_STORAGE_BACKEND", "LINLI_S3_REGION", "LINLI_S3_ENDPOINT_URL"} <= configured
    s3_secret = (TEMPLATES / "s3-secret.yaml").read_text()
    assert "kind: Secret" in s3_secret and 'name: {{ include "linli.fullname" . }}-s3' in s3_secret
    keys = set(re.findall(r"^  (LINLI_[A-Z0-9_]+):", s3_secret, re.M))
    assert keys == {"LINLI_S3_ACCESS_KEY_ID", "LINLI_S3_SECRET_ACCESS_KEY"}
    assert not keys & configured
    assert {k.removeprefix("LINLI_").lower() for k in keys | configured} <= set(Settings.model_fields)
    # Only the API (the one workload that stores and serves evidence) loads the keys.
    loaders = sorted(p.name for p in TEMPLATES.iterdir() if 'include "linli.s3SecretName"' in p.read_text())
    assert loaders == ["api-deployment.yaml"]
    assert '{{- include "linli.fullname" . }}-s3' in (TEMPLATES / "_helpers.tpl").read_text()
