"""The site's configuration and hand-written pages build with mkdocs, strictly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.testing.repos import PROJECT, copy_from_project


def test_mkdocs_build_is_strict_and_renders_the_pages(tmp_path: Path) -> None:
    template = tmp_path / "template"
    for part in ("experiments", "images", "site"):
        copy_from_project(part, template / part)
    shutil.copy(PROJECT / "mkdocs.yml", template / "mkdocs.yml")
    out = tmp_path / "public"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=template,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "radiops testbed" in (out / "index.html").read_text(encoding="utf-8")
    scenarios = (out / "scenarios" / "index.html").read_text(encoding="utf-8")
    assert "Coming from CorteXlab" in scenarios
