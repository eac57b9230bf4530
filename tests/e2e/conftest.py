"""Fixtures for end-to-end tests: a real server process, real clients, offline test images.

The server is Dockyard by default; ``DOCKYARD_E2E_TARGET=distribution`` runs the same tests
against CNCF distribution 2.8 to tell a test bug from a server bug. Every server is stopped and
its temp dir removed whatever the outcome; a failing test's report carries the server log.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.images import File, Image, Symlink, build_image
from tests.support.server import DockyardServer, ServerProcess, server_class
from tests.support.skopeo import Skopeo

_repo_counter = itertools.count()


# The OCI suite exercises the registry itself; authentication has its own tests in tests/ecr.
OPEN_REGISTRY = ("--create-on-push", "--accept-any-credentials")


def _started() -> Iterator[ServerProcess]:
    cls = server_class()
    server = cls(extra_args=OPEN_REGISTRY) if issubclass(cls, DockyardServer) else cls()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    """A fresh server for one test (use for tests that stop, kill or restart it)."""
    yield from _started()


@pytest.fixture(scope="module")
def module_server() -> Iterator[ServerProcess]:
    """One server shared by a module's tests; tests keep apart by using distinct repositories."""
    yield from _started()


@pytest.fixture
def http(module_server: ServerProcess) -> Iterator[httpx.Client]:
    """An httpx client bound to the module's server."""
    with httpx.Client(base_url=module_server.url, timeout=30.0) as client:
        yield client


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name unique within the run (two path components, as users often have)."""
    name = request.node.name.lower().replace("[", "-").replace("]", "")
    safe = "".join(c if c.isalnum() or c in "-" else "-" for c in name).strip("-")[:60]
    return f"e2e/{safe}-{next(_repo_counter)}"


@pytest.fixture(scope="session")
def skopeo() -> Skopeo:
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is not installed (apt-get install skopeo); the e2e suite needs it")
    return Skopeo()


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A scratch directory for layouts and pulled images, removed after the test."""
    path = Path(tempfile.mkdtemp(prefix="dockyard-e2e-work-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def three_layer_files(seed: str) -> list[dict[str, object]]:
    """A small, realistic 3-layer file system (base, package, app); ``seed`` varies content."""
    return [
        {
            "etc/os-release": f'ID=dockyard-test\nVERSION_ID="{seed}"\n'.encode(),
            "bin/busybox": File(b"\x7fELF-busybox-" + seed.encode(), mode=0o755),
            "bin/sh": Symlink("busybox"),
        },
        {"usr/lib/libexample.so.1": b"\x7fELF-lib-" + seed.encode() * 64},
        {
            "app/main.py": f"print('hello from {seed}')\n".encode(),
            "app/data.bin": bytes(range(256)) * 40,
        },
    ]


@pytest.fixture(scope="session")
def oci_image() -> Image:
    """A 3-layer gzip OCI image with a pretty-printed manifest (bytes must survive verbatim)."""
    return build_image(three_layer_files("oci"), config={"Cmd": ["/app/main.py"]}, indent=3)


@pytest.fixture(scope="session")
def docker_image() -> Image:
    """The same kind of image in Docker schema 2 media types."""
    return build_image(
        three_layer_files("docker"), flavor="docker", config={"Cmd": ["/app/main.py"]}
    )
