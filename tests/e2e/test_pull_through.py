"""The pull-through cache end to end: boto3 for the rules, skopeo and raw `/v2/` for the pulls,
Debian's `docker-registry` as the upstream (htpasswd Basic auth, and token auth with a JWT
token service), all on loopback.

Two deployments, as tests/e2e/test_upload_races.py: the embedded default (one process) and
PostgreSQL + S3 (moto) with `serve --workers 2`, where concurrent first pulls land on both
processes and must still fetch each blob from the upstream once (a database lease).

What must hold (issue 14, "Pull-through cache"):
- the five rule operations with ECR's errors and limits;
- skopeo pulls `<prefix>/<upstream repository>:<tag>` (an image and a multi-arch index) with
  the upstream's digests; the repository is created through a PULL_THROUGH_CACHE template;
  DescribeImages lists the cached images;
- once cached, pulls work with the upstream stopped; a never-cached image is `manifest unknown`;
- a tag is re-checked upstream only after --pull-through-refresh (the test clock moves on);
- concurrent first pulls, released by a barrier, fetch each blob from the upstream once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.support import ociapi
from tests.support.ecr import (
    AccessKey,
    ecr_client,
    registry_token,
    small_image,
    v2_client,
    write_auth_file,
)
from tests.support.images import (
    Index,
    Platform,
    build_image,
    build_index,
    build_layer,
    pseudo_random_bytes,
)
from tests.support.races import together
from tests.support.s3 import CREDENTIALS
from tests.support.scaleout import SharedStores
from tests.support.server import DockyardServer
from tests.support.skopeo import Skopeo
from tests.support.upstreams import (
    PASSWORD,
    USER,
    BasicUpstream,
    PushAuth,
    TokenUpstream,
)

pytestmark = pytest.mark.e2e

ACCOUNT = "444444444444"
KEY = AccessKey(ACCOUNT, "AKIAPULLTHROUGH00001", "pull-through-secret-0123456789abcdefghij")
SECRET = "ecr-pullthroughcache/upstream"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{SECRET}-AbCdEf"
RACERS = 6


def auth_file(path: Path) -> Path:
    write_auth_file(path, [KEY])
    with path.open("a") as handle:  # the secret a rule's credentialArn names
        handle.write(
            f'[[accounts.secrets]]\nname = "{SECRET}"\nusername = "{USER}"\n'
            f'accessToken = "{PASSWORD}"\n\n'
            '[[accounts.secrets]]\nname = "ecr-pullthroughcache/broken"\n'
            'username = "x"\n'
        )
    return path


class Deployment:
    def __init__(
        self,
        server: DockyardServer,
        upstreams: dict[str, BasicUpstream],
        clock: Path,
        workers: int = 1,
    ) -> None:
        self.server, self.upstreams, self.clock = server, upstreams, clock
        self.workers = workers
        self.ecr = ecr_client(server.url, KEY)
        self.token = registry_token(self.ecr)

    def v2(self) -> httpx.Client:
        """A client with a connection of its own (racers land on either worker process)."""
        return v2_client(self.server.url, self.token)

    def creds(self) -> str:
        import base64

        return base64.b64decode(self.token).decode()

    def rule(self, prefix: str, upstream: BasicUpstream) -> None:
        self.ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix=prefix,
            upstreamRegistryUrl=upstream.address,
            credentialArn=SECRET_ARN,
        )

    def advance_clock(self, seconds: float) -> None:
        now = float(self.clock.read_text() or 0)
        self.clock.write_text(str(now + seconds))
        self.token = registry_token(self.ecr)  # registry tokens last 12 hours


@pytest.fixture(scope="module", params=["default", "postgres-s3-2-workers"])
def deployment(request: Any, tmp_path_factory: Any) -> Iterator[Deployment]:
    if request.param != "default" and DockyardServer.database_url_factory is not None:
        pytest.skip("PostgreSQL + S3 with --workers 2 ran in the embedded-default run")
    upstreams = {"basic": BasicUpstream().started(), "token": TokenUpstream().started()}
    tmp = tmp_path_factory.mktemp("ptc")
    auth, clock = auth_file(tmp / "auth.toml"), tmp / "clock"
    clock.write_text("0")
    extra = ["--test-clock", str(clock)]
    for upstream in upstreams.values():
        extra += ["--insecure-upstream", upstream.address]
    if request.param == "default":
        server = DockyardServer(extra_args=["--auth-file", str(auth), *extra])
    else:
        postgres, moto = request.getfixturevalue("postgres"), request.getfixturevalue("moto")
        bucket = moto.bucket()
        stores = SharedStores(postgres.new_database(), bucket, moto.url(bucket, "registry"), auth)
        server = DockyardServer(
            extra_args=[*stores.serve_args(), "--workers", "2", *extra], startup_timeout=120
        )
        server.storage_environment = dict(CREDENTIALS)
    try:
        server.start()
        yield Deployment(server, upstreams, clock, 1 if request.param == "default" else 2)
        log = server.log_path.read_text(errors="replace")
        assert "Traceback" not in log, server.log_tail()
    finally:
        server.close()
        for upstream in upstreams.values():
            upstream.close()


@pytest.fixture
def one_process(deployment: Deployment) -> Deployment:
    """Tests of one process's behaviour: on PostgreSQL + S3 they run in the suite's run with
    --e2e-database=postgres --e2e-storage=s3; the two-worker deployment is for the race."""
    if deployment.workers > 1:
        pytest.skip("runs on PostgreSQL + S3 in the --e2e-database=postgres run")
    return deployment


def push_upstream(upstream: BasicUpstream, repo: str, target: Any, tag: str) -> None:
    with httpx.Client(base_url=upstream.url, auth=PushAuth(upstream), timeout=60) as http:
        ociapi.push(http, repo, target, tag)


def multi_arch(seed: str) -> Index:
    images = [
        build_image(
            [build_layer({f"{seed}/{arch}": arch.encode() * 100})],
            platform=Platform(architecture=arch),
        )
        for arch in ("amd64", "arm64")
    ]
    return build_index(images)


def error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


# --------------------------------------------------------------------------- rules


def test_rule_operations_with_ecr_errors(one_process: Deployment) -> None:
    deployment = one_process
    ecr, upstream = deployment.ecr, deployment.upstreams["basic"]
    created = ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="ops/",
        upstreamRegistryUrl=f"http://{upstream.address}",
        credentialArn=SECRET_ARN,
        upstreamRepositoryPrefix="team",
    )
    assert created["ecrRepositoryPrefix"] == "ops"
    assert created["upstreamRepositoryPrefix"] == "team"
    assert created["registryId"] == ACCOUNT
    with pytest.raises(ClientError) as again:
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="ops", upstreamRegistryUrl=upstream.address
        )
    assert error_code(again.value) == "PullThroughCacheRuleAlreadyExistsException"
    refusals = {
        "UnsupportedUpstreamRegistryException": {  # plain HTTP to a host not listed
            "ecrRepositoryPrefix": "plain",
            "upstreamRegistryUrl": "http://127.0.0.1:1",
        },
        "SecretNotFoundException": {
            "ecrRepositoryPrefix": "nosecret",
            "upstreamRegistryUrl": upstream.address,
            "credentialArn": SECRET_ARN.replace("upstream-AbCdEf", "missing"),
        },
        "UnableToDecryptSecretValueException": {
            "ecrRepositoryPrefix": "broken",
            "upstreamRegistryUrl": upstream.address,
            "credentialArn": SECRET_ARN.replace("upstream-AbCdEf", "broken"),
        },
        "UnableToAccessSecretException": {
            "ecrRepositoryPrefix": "other",
            "upstreamRegistryUrl": upstream.address,
            "credentialArn": SECRET_ARN.replace(ACCOUNT, "999999999999"),
        },
        "InvalidParameterException": {  # ECR's prefix grammar
            "ecrRepositoryPrefix": "Bad_Prefix!",
            "upstreamRegistryUrl": upstream.address,
        },
    }
    for code, request in refusals.items():
        with pytest.raises(ClientError) as refused:
            ecr.create_pull_through_cache_rule(**request)
        assert error_code(refused.value) == code, request
    described = ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["ops"])
    (rule,) = described["pullThroughCacheRules"]
    assert rule["upstreamRegistryUrl"] == f"http://{upstream.address}"
    assert rule["credentialArn"] == SECRET_ARN
    valid = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="ops")
    assert valid["isValid"] is True, valid
    updated = ecr.update_pull_through_cache_rule(
        ecrRepositoryPrefix="ops", credentialArn=SECRET_ARN.replace("-AbCdEf", "")
    )
    assert updated["credentialArn"].endswith(SECRET)
    deleted = ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="ops")
    assert deleted["ecrRepositoryPrefix"] == "ops"
    for operation in (ecr.delete_pull_through_cache_rule, ecr.validate_pull_through_cache_rule):
        with pytest.raises(ClientError) as gone:
            operation(ecrRepositoryPrefix="ops")
        assert error_code(gone.value) == "PullThroughCacheRuleNotFoundException"


def test_validate_reports_refused_credentials(one_process: Deployment) -> None:
    deployment = one_process
    upstream = deployment.upstreams["token"]
    deployment.ecr.create_pull_through_cache_rule(  # no credentials for an upstream needing them
        ecrRepositoryPrefix="anon", upstreamRegistryUrl=upstream.address
    )
    answer = deployment.ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="anon")
    assert answer["isValid"] is False and answer["failure"], answer


# --------------------------------------------------------------------------- pulls


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_skopeo_pulls_through_the_cache_then_without_the_upstream(
    one_process: Deployment, kind: str, tmp_path: Path
) -> None:
    deployment = one_process
    upstream = deployment.upstreams[kind]
    prefix = f"{kind}-cache"
    deployment.rule(prefix, upstream)
    deployment.ecr.create_repository_creation_template(
        prefix=prefix,
        appliedFor=["PULL_THROUGH_CACHE"],
        imageTagMutability="MUTABLE",
        resourceTags=[{"Key": "made-by", "Value": "template"}],
    )
    image, index = small_image(f"ptc-{kind}", layers=2, layer_bytes=300_000), multi_arch(kind)
    push_upstream(upstream, "team/app", image, "1")
    push_upstream(upstream, "team/multi", index, "1")
    skopeo, creds = Skopeo(), deployment.creds()
    for repo, target, flags in (("team/app", image, ()), ("team/multi", index, ("--all",))):
        source = f"docker://{deployment.server.address}/{prefix}/{repo}:1"
        skopeo.copy(
            source, f"oci:{tmp_path / repo.replace('/', '-')}:1", "--src-creds", creds, *flags
        )
        raw = skopeo.run("inspect", "--raw", "--tls-verify=false", "--creds", creds, source)
        assert ociapi.sha256_digest(raw) == target.digest
    described = deployment.ecr.describe_images(repositoryName=f"{prefix}/team/multi")
    digests = {d["imageDigest"] for d in described["imageDetails"]}
    assert digests == {index.digest, *(child.digest for child in index.images)}
    arn = deployment.ecr.describe_repositories(repositoryNames=[f"{prefix}/team/app"])[
        "repositories"
    ][0]["repositoryArn"]
    tags = deployment.ecr.list_tags_for_resource(resourceArn=arn)["tags"]
    assert tags == [{"Key": "made-by", "Value": "template"}]
    got = deployment.ecr.batch_get_image(
        repositoryName=f"{prefix}/team/app", imageIds=[{"imageTag": "1"}]
    )
    assert got["images"][0]["imageId"]["imageDigest"] == image.digest

    upstream.stop()
    try:
        for repo, flags in (("team/app", ()), ("team/multi", ("--all",))):
            skopeo.copy(
                f"docker://{deployment.server.address}/{prefix}/{repo}:1",
                f"oci:{tmp_path / 'again'}:{repo.replace('/', '-')}",
                "--src-creds",
                creds,
                *flags,
            )
        deployment.advance_clock(25 * 3600)  # due for its upstream check, which fails
        with deployment.v2() as http:
            stale = http.get(
                ociapi.manifest_url(f"{prefix}/team/app", "1"),
                headers={"Accept": image.manifest.media_type},
            )
            assert stale.status_code == 200 and stale.content == image.manifest.data
            never = http.get(ociapi.manifest_url(f"{prefix}/team/other", "1"))
            assert never.status_code == 404 and never.json()["errors"][0]["code"] in (
                "MANIFEST_UNKNOWN",
                "NAME_UNKNOWN",
            ), never.text
    finally:
        upstream.start()


def test_a_tag_is_rechecked_after_the_refresh_period(one_process: Deployment) -> None:
    deployment = one_process
    upstream = deployment.upstreams["basic"]
    deployment.rule("refresh", upstream)
    first, second = small_image("refresh-1"), small_image("refresh-2")
    push_upstream(upstream, "team/moving", first, "latest")
    url = ociapi.manifest_url("refresh/team/moving", "latest")
    accept = {"Accept": first.manifest.media_type}
    with deployment.v2() as http:
        assert http.get(url, headers=accept).headers["docker-content-digest"] == first.digest
        push_upstream(upstream, "team/moving", second, "latest")
        # Within the refresh period the cached tag is served as it is.
        assert http.get(url, headers=accept).headers["docker-content-digest"] == first.digest
    deployment.advance_clock(25 * 3600)
    with deployment.v2() as http:  # with a token of the new time
        assert http.get(url, headers=accept).headers["docker-content-digest"] == second.digest
        for blob in second.blobs:
            assert ociapi.fetch_blob(http, "refresh/team/moving", blob.digest) == blob.data


def test_concurrent_first_pulls_fetch_each_blob_once(deployment: Deployment) -> None:
    upstream = deployment.upstreams["basic"]
    deployment.rule("racers", upstream)
    layer = pseudo_random_bytes(2 * 1024 * 1024, seed=7)
    image = build_image([build_layer({"big.bin": layer}, compression="none")])
    push_upstream(upstream, "team/big", image, "1")
    before = upstream.blob_fetches()

    def pull(_: int) -> str:
        with deployment.v2() as http:
            manifest = http.get(
                ociapi.manifest_url("racers/team/big", "1"),
                headers={"Accept": image.manifest.media_type},
            )
            assert manifest.status_code == 200, ociapi.describe(manifest)
            for blob in image.blobs:
                body = ociapi.fetch_blob(http, "racers/team/big", blob.digest)
                assert ociapi.sha256_digest(body) == blob.digest
        return manifest.headers["docker-content-digest"]

    results = together(RACERS, pull)
    assert results == [image.digest] * RACERS, results
    after = upstream.blob_fetches()
    fetched = {blob.digest: after[blob.digest] - before[blob.digest] for blob in image.blobs}
    assert fetched == {blob.digest: 1 for blob in image.blobs}


def test_upstream_bytes_that_do_not_match_their_digest_are_never_stored(
    one_process: Deployment,
) -> None:
    deployment = one_process
    upstream = deployment.upstreams["basic"]
    deployment.rule("verify", upstream)
    image = small_image("verify", layer_bytes=100_000)
    push_upstream(upstream, "team/corrupt", image, "1")
    layer = image.layers[0]
    stored = (
        upstream.data_dir
        / "docker/registry/v2/blobs/sha256"
        / layer.digest[7:9]
        / layer.digest[7:]
        / "data"
    )
    stored.write_bytes(bytes(b ^ 0xFF for b in layer.data))  # same length, other bytes
    url = ociapi.blob_url("verify/team/corrupt", layer.digest)
    with deployment.v2() as http:
        manifest = http.get(
            ociapi.manifest_url("verify/team/corrupt", "1"),
            headers={"Accept": image.manifest.media_type},
        )
        assert manifest.status_code == 200
        try:
            cut = http.get(url)
        except httpx.HTTPError:
            pass  # the body was cut short: the client never holds a complete wrong blob
        else:
            assert ociapi.sha256_digest(cut.content) != layer.digest
            assert cut.content != layer.data
    stored.write_bytes(layer.data)
    with deployment.v2() as http:  # nothing was kept: fetched again, now right
        assert ociapi.fetch_blob(http, "verify/team/corrupt", layer.digest) == layer.data
    # The corrupt copy was fetched and dropped, the repaired one fetched again (the background
    # completion may have been the one to fetch either).
    assert upstream.blob_fetches()[layer.digest] >= 2
