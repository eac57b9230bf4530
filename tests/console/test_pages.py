"""The console's pages over ASGI: each page, escaping, the pull command, paging."""

from __future__ import annotations

import gzip
import re

from starlette.testclient import TestClient

from tests.console.conftest import ACCOUNT_A, REPO, push
from tests.support import ociapi
from tests.support.images import Platform, build_artifact, build_image, build_index


def size_text(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB"


SCRIPT_LABEL = '<img src=x onerror="alert(1)">'


def test_get_root_sends_browsers_to_the_console_and_leaves_post_to_ecr(browser):
    answer = browser.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/")
    assert browser.get("/", headers={"Accept": "application/json"}).status_code == 405
    ecr = browser.post("/", content=b"{}", headers={"X-Amz-Target": "nope"})
    assert ecr.json()["__type"] == "UnknownOperationException"


def test_signed_out_pages_redirect_to_sign_in_with_the_way_back(app):
    with TestClient(app) as client:
        answer = client.get(f"/ui/repositories/{REPO}/-/images", follow_redirects=False)
    assert answer.status_code == 303
    assert (
        answer.headers["location"]
        == "/ui/sign-in?next=%2Fui%2Frepositories%2Fteam%2Fapp%2F-%2Fimages"
    )


def test_repositories_lists_counts_sizes_and_searches(browser, registry):
    image = push(registry, "v1")
    push(registry, "v1", repo="other/thing")
    page = browser.get("/ui/repositories")
    assert page.status_code == 200
    row = re.search(
        r"<tr>\s*<th scope=\"row\"><a href=\"/ui/repositories/team/app/-/images\">"
        r"team/app</a></th>(.*?)</tr>",
        page.text,
        re.DOTALL,
    )
    assert row, page.text
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.DOTALL)
    assert cells[0] == "<code>console.test/team/app</code>" and cells[1] == "1"
    stored = sum(len(b.data) for b in image.blobs)
    assert cells[2] == size_text(stored)
    searched = browser.get("/ui/repositories?q=other").text
    assert "other/thing" in searched and "team/app</a>" not in searched


def test_images_page_shows_fields_filters_and_pages_by_keyset(browser, registry):
    pushed = [push(registry, f"v{i}") for i in range(53)]
    page = browser.get(f"/ui/repositories/{REPO}/-/images")
    assert page.status_code == 200
    newest = pushed[-1].digest
    assert page.text.index(newest[:19]) < page.text.index(pushed[-2].digest[:19])
    assert page.text.count("<tr>\n    <td>") == 50
    assert f"docker pull console.test/{REPO}:TAG" in page.text
    next_link = re.search(r'href="\?([^"]*page=[^"]+)"', page.text).group(1).replace("&amp;", "&")
    rest = browser.get(f"/ui/repositories/{REPO}/-/images?{next_link}").text
    assert rest.count("<tr>\n    <td>") == 3 and pushed[0].digest[:19] in rest
    oldest = browser.get(f"/ui/repositories/{REPO}/-/images?order=oldest").text
    assert oldest.index(pushed[0].digest[:19]) < oldest.index(pushed[1].digest[:19])
    untagged = browser.get(f"/ui/repositories/{REPO}/-/images?tag_status=UNTAGGED").text
    assert "No images match." in untagged


def test_forged_page_token_is_a_message_not_a_500(browser, registry):
    push(registry, "v1")
    answer = browser.get(f"/ui/repositories/{REPO}/-/images?page=forged")
    assert answer.status_code == 400
    assert "Member must be a token returned by a previous call" in answer.text


def test_image_page_shows_manifest_config_and_uncompressed_sizes(browser, registry):
    image = push(registry, "v1", labels={"org.example.team": "blue"})
    page = browser.get(f"/ui/repositories/{REPO}/-/images/{image.digest}")
    assert page.status_code == 200
    assert "org.example.team" in page.text and "blue" in page.text
    assert "linux / amd64" in page.text
    uncompressed = len(gzip.decompress(image.layers[0].data))
    assert f"<td>{size_text(uncompressed)}</td>" in page.text
    assert "No artifacts refer to this image." in page.text


def test_labels_and_tags_with_markup_are_escaped(browser, registry):
    image = push(registry, "evil", labels={"description": SCRIPT_LABEL, SCRIPT_LABEL: "key"})
    page = browser.get(f"/ui/repositories/{REPO}/-/images/{image.digest}").text
    assert SCRIPT_LABEL not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


def test_missing_image_and_repository_are_404_pages(browser, registry):
    push(registry, "v1")
    digest = "sha256:" + "0" * 64
    assert browser.get(f"/ui/repositories/{REPO}/-/images/{digest}").status_code == 404
    missing = browser.get("/ui/repositories/no/such/-/images")
    assert missing.status_code == 404 and "does not exist" in missing.text


def test_security_headers_on_every_console_answer(browser):
    missing = browser.get("/ui/no/such/page")
    assert missing.status_code == 404 and "no such page in the console" in missing.text
    for path in ("/ui/repositories", "/ui/sign-in", "/ui/static/console.css", "/ui/no/such"):
        headers = browser.get(path).headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"


def test_storage_page_counts_shared_blobs_once_for_the_account(browser, registry):
    image = push(registry, "v1")
    push(registry, "v1", repo="copy/app")  # the same image: the same blobs
    page = browser.get("/ui/storage").text
    stored = sum(len(b.data) for b in image.blobs)
    shown = re.search(r"each counted once\)</dt><dd>([^<]*)</dd>", page).group(1)
    assert shown == size_text(stored)
    assert "copy/app" in page and "team/app" in page


def test_index_shows_its_platforms_and_an_image_its_referrers(browser, registry):
    amd = build_image([{"a.txt": b"amd"}], platform=Platform("amd64"))
    arm = build_image([{"a.txt": b"arm"}], platform=Platform("arm64", variant="v8"))
    index = build_index([amd, arm])
    ociapi.push(registry, REPO, index, "multi")
    page = browser.get(f"/ui/repositories/{REPO}/-/images/{index.digest}").text
    assert "<td>linux/amd64</td>" in page and "<td>linux/arm64/v8</td>" in page
    sbom = build_artifact({"sbom.json": b"{}"}, artifact_type="application/spdx+json", subject=amd)
    ociapi.push(registry, REPO, sbom)
    child = browser.get(f"/ui/repositories/{REPO}/-/images/{amd.digest}").text
    assert sbom.digest[:19] in child and "application/spdx+json" in child
    # an artifact's config is no image config: no Configuration section, no error
    artifact = browser.get(f"/ui/repositories/{REPO}/-/images/{sbom.digest}")
    assert artifact.status_code == 200 and "<h2>Configuration</h2>" not in artifact.text


def test_repositories_are_keyset_paged_by_name(browser, app):
    meta = app.state.services.meta
    names = [f"bulk/repo-{i:03d}" for i in range(53)]
    for name in names:
        meta.create_repository(ACCOUNT_A, name, 0.0)
    first = browser.get("/ui/repositories").text
    shown = re.findall(r'-/images">(bulk/repo-\d+)</a>', first)
    assert shown == names[:50]
    link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    rest = re.findall(r'-/images">(bulk/repo-\d+)</a>', browser.get(link).text)
    assert rest == names[50:]
