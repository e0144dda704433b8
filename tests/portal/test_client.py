"""The front end's typed client is generated from the API's OpenAPI: when an endpoint changes and the
client is not regenerated (`make client`), this fails, so the console and the API cannot drift."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fastapi import FastAPI

PORTAL = Path(__file__).resolve().parents[2] / "portal"
STALE = "the front end's API client is stale: run `make client` and commit portal/src/api"


def test_the_committed_openapi_document_is_the_apis(app: FastAPI) -> None:
    committed = json.loads((PORTAL / "src" / "api" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(app.openapi())), STALE


def test_the_typescript_client_is_generated_from_the_committed_document() -> None:
    generator = PORTAL / "node_modules" / ".bin" / "openapi-typescript"
    assert generator.exists(), "portal/node_modules is missing: run scripts/bootstrap"
    generated = subprocess.run(
        [str(generator), "src/api/openapi.json"], cwd=PORTAL, capture_output=True, text=True, check=True
    ).stdout
    assert generated == (PORTAL / "src" / "api" / "schema.d.ts").read_text(encoding="utf-8"), STALE
