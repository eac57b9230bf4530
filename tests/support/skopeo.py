"""A thin, strict wrapper around the ``skopeo`` CLI for e2e tests.

Every call runs with TLS verification off (the test servers speak plain HTTP on loopback) and
``--insecure-policy`` (no dependency on the machine's ``/etc/containers/policy.json``). A
non-zero exit raises ``SkopeoError`` carrying the command, stdout and stderr, so a failing test
shows exactly what skopeo saw from the registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["Skopeo", "SkopeoError"]


class SkopeoError(AssertionError):
    """skopeo exited non-zero; an AssertionError so pytest shows it as a test failure."""

    def __init__(self, args: list[str], result: subprocess.CompletedProcess[bytes]) -> None:
        super().__init__(
            f"skopeo failed (exit {result.returncode}): {' '.join(args)}\n"
            f"--- stdout ---\n{result.stdout.decode(errors='replace')[-4000:]}\n"
            f"--- stderr ---\n{result.stderr.decode(errors='replace')[-4000:]}"
        )
        self.returncode = result.returncode
        self.stderr = result.stderr.decode(errors="replace")


class Skopeo:
    """Runs skopeo subcommands; ``timeout`` bounds each call so a hung server fails the test."""

    def __init__(self, binary: str | None = None, timeout: float = 120.0) -> None:
        self.binary = binary or shutil.which("skopeo") or "/usr/bin/skopeo"
        self.timeout = timeout

    def run(self, *args: str) -> bytes:
        """Run ``skopeo --insecure-policy ARGS``; return stdout or raise ``SkopeoError``."""
        command = [self.binary, "--insecure-policy", *args]
        result = subprocess.run(command, capture_output=True, timeout=self.timeout, check=False)
        if result.returncode != 0:
            raise SkopeoError(command, result)
        return result.stdout

    def copy(
        self, source: str, dest: str, *flags: str, digestfile: Path | None = None
    ) -> str | None:
        """``skopeo copy``; returns the pushed manifest digest when ``digestfile`` is given."""
        extra = ["--digestfile", str(digestfile)] if digestfile else []
        self.run(
            "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
            *extra, *flags, source, dest,
        )  # fmt: skip
        return digestfile.read_text().strip() if digestfile else None

    def inspect(self, ref: str, *flags: str) -> dict[str, Any]:
        """``skopeo inspect`` (parsed JSON: Digest, Layers, Architecture ...)."""
        return json.loads(self.run("inspect", "--tls-verify=false", *flags, ref))

    def inspect_raw(self, ref: str) -> bytes:
        """The manifest exactly as the source serves it (no trailing newline added)."""
        return self.run("inspect", "--raw", "--tls-verify=false", ref)

    def inspect_config(self, ref: str) -> bytes:
        """The raw config blob of an image."""
        return self.run("inspect", "--config", "--raw", "--tls-verify=false", ref)

    def list_tags(self, ref: str) -> list[str]:
        """``skopeo list-tags`` of a ``docker://host/repo`` reference."""
        return json.loads(self.run("list-tags", "--tls-verify=false", ref))["Tags"]

    def delete(self, ref: str) -> None:
        """``skopeo delete``: resolves a tag to its digest, then deletes the manifest."""
        self.run("delete", "--tls-verify=false", ref)
