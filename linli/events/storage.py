"""Where evidence files live: a small backend interface; a local directory by default."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from linli.platform.errors import NotFound
from linli.platform.settings import get_settings


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
    """The part of an S3-compatible client (e.g. an aiobotocore client) the backend uses."""

    async def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> object: ...

    async def get_object_bytes(self, *, Bucket: str, Key: str) -> bytes: ...

    async def delete_object(self, *, Bucket: str, Key: str) -> object: ...


class S3Storage:
    """Optional S3-compatible backend; the deployment supplies a client with the methods above."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes:
        return await self.client.get_object_bytes(Bucket=self.bucket, Key=self.prefix + key)

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)


_backend: StorageBackend | None = None


def get_storage() -> StorageBackend:
    global _backend
    if _backend is None:
        _backend = LocalStorage(get_settings().storage_dir)
    return _backend


def set_storage(backend: StorageBackend | None) -> None:
    global _backend
    _backend = backend


def sniff_image(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) decided by the file's magic bytes, never by its name or header."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg", "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png", "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None
