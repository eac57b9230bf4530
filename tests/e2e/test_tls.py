"""`serve --tls-cert/--tls-key`: both protocols over HTTPS on one port, verified by real clients
(boto3 with `verify=`, skopeo and podman with `--tls-verify=true`) against a CA made here."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.ecr import REGION, AccessKey, write_auth_file
from tests.support.images import write_layout
from tests.support.server import DockyardServer
from tests.support.skopeo import Skopeo, SkopeoError

pytestmark = pytest.mark.e2e

KEY = AccessKey("210987654321", "AKIATLSE2E0000000001", "tls-e2e-secret-0123456789abcdefghijkl")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key, issuer: str, issuer_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    if not ca:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.crt, server.crt, server.key; certs.d/ca.crt is what `--cert-dir` wants."""
    root = tmp_path_factory.mktemp("pki")
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _certificate("Dockyard test CA", ca_key, "Dockyard test CA", ca_key, ca=True)
    server = _certificate("127.0.0.1", server_key, "Dockyard test CA", ca_key, ca=False)
    (root / "ca.crt").write_bytes(_pem(ca))
    (root / "server.crt").write_bytes(_pem(server))
    (root / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (root / "certs.d").mkdir()
    shutil.copy(root / "ca.crt", root / "certs.d" / "ca.crt")
    return root


@pytest.fixture(scope="module")
def tls_server(pki: Path) -> Iterator[DockyardServer]:
    server = DockyardServer()
    auth = write_auth_file(server.tmp_dir / "auth.toml", [KEY])
    server.extra_args = [
        "--auth-file",
        str(auth),
        "--create-on-push",
        "--tls-cert",
        str(pki / "server.crt"),
        "--tls-key",
        str(pki / "server.key"),
    ]
    server.ca_bundle = pki / "ca.crt"
    try:
        yield server.started()
    finally:
        server.close()


def ecr(server: DockyardServer, verify: str | bool):
    return boto3.session.Session().client(
        "ecr",
        endpoint_url=server.url,
        region_name=REGION,
        verify=verify,
        aws_access_key_id=KEY.access_key_id,
        aws_secret_access_key=KEY.secret_access_key,
    )


def password(server: DockyardServer, pki: Path) -> str:
    import base64

    token = ecr(server, str(pki / "ca.crt")).get_authorization_token()
    encoded = token["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(encoded).decode().partition(":")[2]


def test_boto3_verifies_the_certificate_and_uses_the_ecr_api(tls_server, pki) -> None:
    created = ecr(tls_server, str(pki / "ca.crt")).create_repository(repositoryName="tls/boto")

    assert created["repository"]["repositoryUri"].startswith(tls_server.address)
    with pytest.raises(Exception, match="(?i)certificate verify failed"):
        ecr(tls_server, True).describe_repositories()  # the system CAs do not know ours


def test_plain_http_on_the_tls_port_gets_no_registry(tls_server) -> None:
    try:
        response = httpx.get(f"http://{tls_server.address}/v2/", timeout=5)
    except httpx.HTTPError:
        return  # the connection was dropped: fine
    assert response.status_code == 400, response.headers  # uvicorn's answer, not the registry's
    assert "www-authenticate" not in response.headers


def test_skopeo_pushes_and_podman_pulls_with_tls_verification(
    tls_server, pki, oci_image, workdir, tmp_path
) -> None:
    layout = write_layout(workdir / "layout", {"v1": oci_image})
    creds = f"AWS:{password(tls_server, pki)}"
    target = f"docker://{tls_server.address}/tls/app:v1"
    skopeo = Skopeo()

    with pytest.raises(SkopeoError, match="(?i)certificate"):
        skopeo.run(
            "copy", "--dest-tls-verify=true", "--dest-creds", creds, f"oci:{layout}:v1", target
        )
    skopeo.run(
        "copy",
        "--dest-tls-verify=true",
        "--dest-cert-dir",
        str(pki / "certs.d"),
        "--dest-creds",
        creds,
        f"oci:{layout}:v1",
        target,
    )
    inspected = skopeo.run(
        "inspect",
        "--raw",
        "--tls-verify=true",
        "--cert-dir",
        str(pki / "certs.d"),
        "--creds",
        creds,
        target,
    )
    pulled = _podman_pull(tmp_path, pki, creds, f"{tls_server.address}/tls/app:v1")

    assert inspected == oci_image.manifest.data
    assert pulled.returncode == 0, pulled.stderr.decode()[-2000:]


def _podman_pull(tmp_path: Path, pki: Path, creds: str, reference: str):
    podman = shutil.which("podman")
    if podman is None:
        pytest.fail("podman is not installed (apt-get install podman)")
    short = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))  # podman: runroot < 50 chars
    storage = [
        "--root",
        str(short / "root"),
        "--runroot",
        str(short / "run"),
        "--storage-driver",
        "vfs",
    ]
    try:
        return subprocess.run(
            [
                podman,
                *storage,
                "pull",
                "--tls-verify=true",
                "--cert-dir",
                str(pki / "certs.d"),
                "--creds",
                creds,
                reference,
            ],
            capture_output=True,
            timeout=180,
            check=False,
        )
    finally:
        subprocess.run(
            [podman, *storage, "system", "reset", "--force"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(short, ignore_errors=True)
