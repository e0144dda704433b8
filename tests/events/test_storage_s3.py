"""Evidence in an S3-compatible bucket, tested against moto's S3 server (an in-process S3 implementation
on a random local port, spoken to over HTTP by the real boto3 client; no S3 server package installs here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from fastapi import FastAPI
from moto.server import ThreadedMotoServer

from linli.events.storage import LocalStorage, S3Storage, StorageBackend, get_storage, set_storage
from linli.platform.app import create_app
from linli.platform.errors import NotFound
from linli.platform.settings import get_settings
from tests.conftest import Login
from tests.events.conftest import PNG, Places
from tests.events.test_governance_loop import RESIDENT, report

BUCKET = "linli-evidence"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process is configured for the s3 backend only through LINLI_* settings, as a pod would be."""
    for name, value in {
        "LINLI_STORAGE_BACKEND": "s3",
        "LINLI_S3_ENDPOINT_URL": s3_endpoint,
        "LINLI_S3_BUCKET": BUCKET,
        "LINLI_S3_REGION": "us-east-1",
        "LINLI_S3_ACCESS_KEY_ID": "test-key",
        "LINLI_S3_SECRET_ACCESS_KEY": "test-secret",
        "LINLI_STORAGE_DIR": "/nonexistent/linli-storage",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    set_storage(None)
    yield
    set_storage(None)
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StorageBackend:
    if request.param == "local":
        return LocalStorage(tmp_path)
    request.getfixturevalue("s3_settings")
    return get_storage()


def test_settings_select_the_s3_backend(s3_settings: None) -> None:
    storage = get_storage()
    assert isinstance(storage, S3Storage) and storage.bucket == BUCKET


async def test_put_get_delete_round_trip(s3_settings: None, s3_endpoint: str) -> None:
    storage = get_storage()
    key = f"events/{uuid.uuid4()}/{uuid.uuid4()}.png"
    await storage.put(key, PNG, "image/png")
    assert await storage.get(key) == PNG
    # The object is really in the bucket, with its content type.
    raw = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ).get_object(Bucket=BUCKET, Key=key)
    assert raw["ContentType"] == "image/png" and raw["Body"].read() == PNG
    await storage.delete(key)
    with pytest.raises(NotFound):
        await storage.get(key)


async def test_a_missing_object_is_a_missing_file_on_either_backend(backend: StorageBackend) -> None:
    key = f"events/{uuid.uuid4()}/missing.png"
    with pytest.raises(NotFound) as missing:
        await backend.get(key)
    assert (missing.value.code, missing.value.message) == ("not_found", "file not found")
    # Deleting what is not there is no error either.
    await backend.delete(key)


def second_pod(app: FastAPI) -> FastAPI:
    """Another API process: its own application and its own storage client built from the settings; it
    shares only the database (the test's session) and the bucket with the first."""
    set_storage(None)
    other = create_app()
    other.state.session_override = app.state.session_override
    return other


async def test_an_attachment_uploaded_through_one_pod_is_downloaded_through_another(
    s3_settings: None, app: FastAPI, client: httpx.AsyncClient, login: Login, places: Places
) -> None:
    resident = await login(RESIDENT)
    event = (await report(client, resident, places.yuefeng, "ph_repair_request", building="5栋")).json()
    url = f"/api/v1/events/{event['id']}/attachments"
    uploaded = await client.post(url, files={"file": ("p.png", PNG, "image/png")}, headers=resident)
    assert uploaded.status_code == 201, uploaded.text
    first_storage = get_storage()
    assert isinstance(first_storage, S3Storage)

    other = second_pod(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://linli.test") as pod2:
        image = await pod2.get(f"{url}/{uploaded.json()['id']}", headers=resident)
        assert get_storage() is not first_storage
        assert image.status_code == 200, image.text
        assert image.content == PNG and image.headers["content-type"] == "image/png"


async def test_the_s3_backend_needs_a_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINLI_STORAGE_BACKEND", "s3")
    monkeypatch.delenv("LINLI_S3_BUCKET", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="LINLI_S3_BUCKET"):
            get_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
