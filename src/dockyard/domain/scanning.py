"""Records shared by the scanner's parts: what an image contains and what is wrong with it.

    layers ──► inventory (OS + packages) ──► matcher (+ vulnerability index) ──► findings
                         cached per image                                    ──► ECR shapes

Pure data; the readers live in backends/scanner, the scan lifecycle in services/scanning.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")
UNSUPPORTED_IMAGE = (
    "UnsupportedImageError: The operating system and/or package manager are not supported."
)


class ScanFailed(Exception):
    """A scan that cannot complete; the message becomes imageScanStatus.description."""


@dataclass(frozen=True)
class Distro:
    """The image's operating system, as OSV names its ecosystem (e.g. `Debian:12`)."""

    id: str  # os-release ID: debian, ubuntu, alpine, rhel, almalinux, rocky, ...
    version_id: str
    ecosystem: str  # OSV ecosystem string, e.g. "Debian:12", "Alpine:v3.19", "Ubuntu:22.04:LTS"
    pretty_name: str = ""


@dataclass(frozen=True)
class Package:
    """One installed package. OS packages match on their source package name and version."""

    ecosystem: str  # OSV ecosystem: "Debian:12", "Alpine:v3.19", "PyPI", "npm", ...
    name: str
    version: str
    source_name: str = ""
    source_version: str = ""
    arch: str = ""
    package_manager: str = ""  # dpkg, apk, rpm, python, npm
    file_path: str = ""
    layer_digest: str = ""

    @property
    def match_name(self) -> str:
        return self.source_name or self.name

    @property
    def match_version(self) -> str:
        return self.source_version or self.version

    @property
    def is_os_package(self) -> bool:
        return self.package_manager in ("dpkg", "apk", "rpm")


@dataclass(frozen=True)
class Inventory:
    """Everything a scan needs from an image's layers; cached so rescans need no layer I/O."""

    distro: Distro | None
    packages: tuple[Package, ...]
    architecture: str = ""  # the image config's, e.g. "amd64" (enhanced findings report it)

    def os_packages(self) -> tuple[Package, ...]:
        return tuple(p for p in self.packages if p.is_os_package)


@dataclass(frozen=True)
class Finding:
    """One vulnerability in one package, ready to map onto ECR's basic or enhanced shapes."""

    id: str  # display id: the CVE if there is one, else the advisory id
    package: Package
    severity: str  # one of SEVERITIES
    description: str = ""
    uri: str = ""
    fixed_version: str = ""  # "" when there is no fix ("NotAvailable" in ECR's words)
    aliases: tuple[str, ...] = ()
    cvss: dict[str, str] = field(default_factory=dict)  # e.g. {"CVSS3_SCORE": "7.5", ...}
    advisory_id: str = ""
    published: str = ""
    modified: str = ""
    vendor_severity: str = ""  # the source's own rating, e.g. Debian urgency "low", GHSA "HIGH"
    references: tuple[str, ...] = ()  # advisory reference URLs (enhanced referenceUrls)
