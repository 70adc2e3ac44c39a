"""Headless Chromium for tests that look at pages as a person does: Debian's `chromium`
package, installed when missing (CI runs as root with Debian's package mirrors)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# As root Chromium needs --no-sandbox (Playwright adds it); without the background
# networking it tries hosts that a closed network refuses, many at a time.
FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def chromium() -> Path:
    """The browser's executable; `apt-get install chromium` first if it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install chromium) or run the tests as root, which installs it"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
    ):
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=900)
    return CHROMIUM
