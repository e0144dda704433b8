"""Where evidence files live: a small backend interface; a local directory by default, or an S3-compatible
bucket (`LINLI_STORAGE_BACKEND=s3`) that every API pod shares."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from linli.platform.errors import NotFound
from linli.platform.settings import Settings, get_settings


class StorageBackend(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under a directory; keys are relative paths made only of generated ids."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise NotFound("file")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def _write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)

        await asyncio.to_thread(_write)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound("file") from exc

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)


class S3Client(Protocol):
    """The part of a boto3 S3 client the backend uses (its calls block: they run in a thread)."""

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> object: ...

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]: ...

    def delete_object(self, *, Bucket: str, Key: str) -> object: ...


class S3Storage:
    """Objects in a bucket of an S3-compatible store, shared by every pod (keys as in LocalStorage)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client, self.bucket = client, bucket

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )

    async def get(self, key: str) -> bytes:
        def _read() -> bytes:
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                # A missing object is a missing file, as on disk; any other failure stays an error.
                if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                    raise NotFound("file") from exc
                raise
            with response["Body"] as body:
                return bytes(body.read())

        return await asyncio.to_thread(_read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)


def s3_storage_from_settings(settings: Settings) -> S3Storage:
    """Without access keys boto3 takes its usual credential chain (e.g. a pod's workload identity)."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        # Path-style addressing works with every S3-compatible server (no wildcard DNS per bucket).
        config=BotoConfig(
            s3={"addressing_style": "path"}, retries={"mode": "standard"}, connect_timeout=5, read_timeout=30
        ),
    )
    return S3Storage(client, settings.s3_bucket)


_backend: StorageBackend | None = None


def get_storage() -> StorageBackend:
    global _backend
    if _backend is None:
        settings = get_settings()
        if settings.storage_backend == "s3":
            _backend = s3_storage_from_settings(settings)
        else:
            _backend = LocalStorage(settings.storage_dir)
    return _backend


def set_storage(backend: StorageBackend | None) -> None:
    global _backend
    _backend = backend
