"""What every benchmark report says about where it ran: the machine's load, the code's revision."""

from __future__ import annotations

import os
import subprocess

from dockbench.servers import REPO_ROOT


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _git(*args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(REPO_ROOT), *args], check=False,
                              capture_output=True, text=True, timeout=10)  # fmt: skip
    except OSError:
        return ""
    return proc.stdout.strip()


def revision(dirty_note: str) -> str:
    """The short commit of the checkout, plus `dirty_note` when src/ has uncommitted changes."""
    rev = _git("rev-parse", "--short", "HEAD") or "no commit"
    return rev + (dirty_note if _git("status", "--porcelain", "--", "src") else "")
