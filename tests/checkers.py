"""Where the page checkers live: axe-core and the Nu HTML Checker, from the npm registry.

``make test`` installs them (tests/tools/package.json, pinned by its lock file) into
tests/tools/node_modules, which git ignores; nothing is loaded from a CDN.
By hand: ``npm ci --ignore-scripts --prefix tests/tools``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TOOLS = Path(__file__).resolve().parent / "tools" / "node_modules"
AXE = TOOLS / "axe-core" / "axe.min.js"
VNU = TOOLS / "vnu-jar" / "build" / "dist" / "vnu.jar"
JAVA = shutil.which("java")
INSTALL = "run `make test`, or `npm ci --ignore-scripts --prefix tests/tools`"


def missing_axe() -> str | None:
    """Why axe-core cannot run here (``None``: it can)."""
    return None if AXE.is_file() else f"axe-core is not installed ({INSTALL})"


def missing_vnu() -> str | None:
    """Why the Nu HTML Checker cannot run here (``None``: it can)."""
    if not JAVA:
        return "Java is not installed (apt-get install -y default-jre-headless)"
    return None if VNU.is_file() else f"the Nu HTML Checker (vnu-jar) is not installed ({INSTALL})"
