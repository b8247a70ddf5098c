"""Locate (and fetch once, with npm) the official FHIR R4 4.0.1 package ``hl7.fhir.r4.examples``.

Used by scripts that regenerate our shipped data files and by the conformance tests; never at
run time. The package is CC0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

PACKAGE = "hl7.fhir.r4.examples@4.0.1"


def cache_dir() -> Path:
    base = os.environ.get("MEDREC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "medrec"
    )
    return Path(base)


def r4_package_dir() -> Path:
    """The unpacked package folder; downloads it through the npm registry on first use."""
    target = cache_dir() / "hl7.fhir.r4.examples-4.0.1"
    package = target / "package"
    if (package / "Bundle-searchParams.json").exists():
        return package
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is needed once to fetch {PACKAGE} (install Node.js and npm)")
    target.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [npm, "pack", PACKAGE, "--silent", "--pack-destination", str(target)],
        check=True,
        capture_output=True,
        text=True,
    )
    tgz = target / out.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as archive:
        archive.extractall(target, filter="data")
    tgz.unlink()
    return package
