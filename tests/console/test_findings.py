"""The findings page: filters, the severity chart, links, and escaping of scanner-supplied text.

The scan is stored through the ScanStore port as a finished scan would store it (the scanner
itself is exercised end to end in the browser test, tests/console/test_browser.py)."""

from __future__ import annotations

import json
import re

from dockyard.domain.models import ScanRecord
from dockyard.domain.scanning import Finding, Package
from dockyard.services.scanning import document_key, finding_to_dict, severity_counts
from tests.console.conftest import ACCOUNT_A, REPO, push

HOSTILE = '<script>alert("osv")</script>'


def store_scan(app, digest: str, findings: list[Finding]) -> None:
    services = app.state.services
    repo = services.repositories.get(ACCOUNT_A, REPO)
    image = services.meta.get_image(repo.id, digest)
    texts = [json.dumps(finding_to_dict(f)) for f in findings]
    keys = [document_key(t) for t in texts]
    now = services.clock.now()
    services.meta.put_scan(
        ScanRecord(image.id, "BASIC", "COMPLETE", "done", now, now, now, severity_counts(findings)),
        keys,
        dict(zip(keys, texts)),
    )


def finding(cve: str, severity: str, package: str, description: str = "", uri: str = "") -> Finding:
    return Finding(
        cve,
        Package("Debian:12", package, "1.0-1"),
        severity,
        description,
        uri or f"https://security-tracker.debian.org/tracker/{cve}",
        "1.0-2",
        cvss={"CVSS3_SCORE": "7.5"},
    )


def test_findings_filters_chart_and_escaping(browser, registry, app):
    image = push(registry, "v1")
    store_scan(
        app,
        image.digest,
        [
            finding("CVE-2024-0001", "HIGH", "tar", HOSTILE),
            finding("CVE-2024-0002", "HIGH", "openssl"),
            finding("CVE-2024-0003", "LOW", HOSTILE, uri="javascript:alert(1)"),
        ],
    )
    url = f"/ui/repositories/{REPO}/-/images/{image.digest}/findings"
    page = browser.get(url).text
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert "javascript:" not in page  # only http(s) advisory links become links
    assert '<a href="https://security-tracker.debian.org/tracker/CVE-2024-0001"' in page
    assert "Findings by severity: Critical 0, High 2, Medium 0, Low 1" in page
    bars = re.findall(r'<rect x="120" y="\d+" width="(\d+)" height="16" class="sev-(\w+)"', page)
    widths = {severity: width for width, severity in bars}
    assert widths["high"] == "300" and widths["low"] == "150" and widths["critical"] == "0"
    high = browser.get(url + "?severity=HIGH").text
    assert "CVE-2024-0001" in high and "CVE-2024-0003" not in high
    ssl = browser.get(url + "?package=ssl").text
    assert "CVE-2024-0002" in ssl and "CVE-2024-0001" not in ssl
    image_page = browser.get(f"/ui/repositories/{REPO}/-/images/{image.digest}").text
    assert "High 2" in image_page and "Low 1" in image_page


def test_findings_of_an_unscanned_image_say_so(browser, registry):
    image = push(registry, "v1")
    answer = browser.get(f"/ui/repositories/{REPO}/-/images/{image.digest}/findings")
    assert answer.status_code == 404 and "Image scan does not exist" in answer.text
