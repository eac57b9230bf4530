"""Which operating system an image is, named as OSV names its ecosystem.

    etc/os-release ─► usr/lib/os-release ─► etc/alpine-release / etc/debian_version (hints)
        ID + VERSION_ID (+ VERSION, CPE_NAME) ──_ECOSYSTEMS──► Distro("debian", "12", "Debian:12")

On Debian `etc/os-release` is a symlink to `../usr/lib/os-release`; the view resolves it inside
the image. Distributions OSV has no data for (Fedora, Amazon Linux, Oracle Linux, SUSE without an
ndb reader ...) give None: the image is then unsupported for basic scans, as ECR says of `scratch`.

| ID              | ecosystem                                  | why                              |
|-----------------|--------------------------------------------|----------------------------------|
| debian          | `Debian:<major>`                           | OSV: numeric release             |
| ubuntu          | `Ubuntu:<ver>` + `:LTS` for LTS releases   | OSV: `Ubuntu:22.04:LTS`          |
| alpine          | `Alpine:v<major>.<minor>`                  | OSV: the `v` is mandatory        |
| almalinux/rocky | `AlmaLinux:<major>` / `Rocky Linux:<major>`| OSV names                        |
| rhel, centos    | `Red Hat:enterprise_linux:<major>`         | prefix of OSV's per-repository   |
|                 |                                            | `Red Hat:enterprise_linux:9::baseos`; CentOS is a RHEL rebuild, as Trivy treats it |
| wolfi/chainguard| `Wolfi` / `Chainguard`                     | OSV: no release part             |
"""

from __future__ import annotations

import shlex

from dockyard.backends.scanner.view import MergedView
from dockyard.domain.scanning import Distro

RELEASE_FILES = ("etc/os-release", "usr/lib/os-release")
HINT_FILES = ("etc/alpine-release", "etc/debian_version")
PATHS = RELEASE_FILES + HINT_FILES


def detect(view: MergedView) -> Distro | None:
    """The image's distribution, or None when unknown or unsupported."""
    fields = _release_fields(view) or _hint_fields(view)
    if not fields.get("ID"):
        return None
    distro_id = fields["ID"].lower()
    version_id = fields.get("VERSION_ID", "")
    ecosystem = _ecosystem(distro_id, version_id, fields)
    if ecosystem is None:
        return None
    return Distro(distro_id, version_id, ecosystem, fields.get("PRETTY_NAME", ""))


def parse(text: str) -> dict[str, str]:
    """os-release KEY=VALUE lines; shell quoting and escapes undone, comments skipped."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            value = " ".join(shlex.split(value, posix=True))
        except ValueError:  # an unbalanced quote: keep what is there
            value = value.strip("\"'")
        fields[key.strip()] = value
    return fields


def _release_fields(view: MergedView) -> dict[str, str]:
    for path in RELEASE_FILES:
        data = view.read(path)
        if data:
            return parse(data.decode("utf-8", "replace"))
    return {}


def _hint_fields(view: MergedView) -> dict[str, str]:
    """Older or stripped images without os-release still say what they are here."""
    alpine = view.read("etc/alpine-release")
    if alpine:
        return {"ID": "alpine", "VERSION_ID": alpine.decode("ascii", "replace").strip()}
    debian = (view.read("etc/debian_version") or b"").decode("ascii", "replace").strip()
    if debian[:1].isdigit():  # "12.5"; testing and sid say "trixie/sid", which OSV lacks
        return {"ID": "debian", "VERSION_ID": debian.split(".")[0]}
    return {}


def _ecosystem(distro_id: str, version_id: str, fields: dict[str, str]) -> str | None:
    parts = version_id.split(".")
    major = parts[0]
    if distro_id in ("wolfi", "chainguard"):
        return distro_id.capitalize()
    if not major.isdigit():
        return None
    if distro_id == "debian":
        return f"Debian:{major}"
    if distro_id == "ubuntu":
        return f"Ubuntu:{version_id}:LTS" if _is_lts(parts, fields) else f"Ubuntu:{version_id}"
    if distro_id == "alpine" and len(parts) >= 2:
        return f"Alpine:v{major}.{parts[1].split('_')[0]}"
    if distro_id == "almalinux":
        return f"AlmaLinux:{major}"
    if distro_id == "rocky":
        return f"Rocky Linux:{major}"
    if distro_id in ("rhel", "centos"):
        return f"Red Hat:enterprise_linux:{major}"
    return None


def _is_lts(parts: list[str], fields: dict[str, str]) -> bool:
    """Ubuntu says "LTS" in VERSION; failing that, LTS releases are even years' April ones."""
    if "LTS" in fields.get("VERSION", ""):
        return True
    return len(parts) == 2 and parts[1] == "04" and parts[0].isdigit() and int(parts[0]) % 2 == 0
