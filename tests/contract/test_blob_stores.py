"""The blob stores Dockyard ships, each run through the BlobStore contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.backends.blobs.fs.store import FilesystemBlobStore
from dockyard.backends.blobs.memory import MemoryBlobStore

from .blob_contract import BlobStoreContract


class TestFilesystemBlobStore(BlobStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> FilesystemBlobStore:
        store = FilesystemBlobStore(tmp_path / "blobs")
        store.probe()
        return store


class TestMemoryBlobStore(BlobStoreContract):
    @pytest.fixture
    def store(self) -> MemoryBlobStore:
        return MemoryBlobStore()
