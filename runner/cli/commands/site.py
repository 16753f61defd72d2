"""``radiops site build|serve``: the testbed's static site, with mkdocs and the radiops plugin."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mkdocs.commands.build import build
from mkdocs.commands.serve import serve
from mkdocs.config import load_config
from mkdocs.exceptions import MkDocsException

from runner.cli.command import Command, Context
from runner.model.errors import FatalError, UsageError
from runner.model.repo import find_repository

CONFIG_FILE = "mkdocs.yml"
T = TypeVar("T")


class SiteBuildFailed(FatalError):
    """mkdocs stopped: a strict-mode warning, a broken mkdocs.yml, a theme error."""

    exit_code = 1


def site_build(*, cwd: Path, site_dir: Path | None = None) -> Path:
    """Build the site of the repository around ``cwd``; returns the site directory."""
    config_file = _config_file(cwd)
    options = {"site_dir": str(cwd / site_dir)} if site_dir else {}
    config = _mkdocs(lambda: load_config(str(config_file), **options))
    _mkdocs(lambda: build(config))
    return Path(config.site_dir)


def site_serve(*, cwd: Path, dev_addr: str | None = None) -> None:
    """Serve the site with live reload until interrupted."""
    config_file = _config_file(cwd)
    if dev_addr:
        _mkdocs(lambda: serve(config_file=str(config_file), dev_addr=dev_addr))
    else:
        _mkdocs(lambda: serve(config_file=str(config_file)))


def _config_file(cwd: Path) -> Path:
    repo = find_repository(cwd)
    path = repo.root / CONFIG_FILE
    if not path.is_file():
        raise UsageError(
            f"{repo.root} has no {CONFIG_FILE}; copy the one of the radiops template repository"
        )
    return path


def _mkdocs(action: Callable[[], T]) -> T:
    """Run an mkdocs step with its messages shown; its errors become ours."""
    logger = logging.getLogger("mkdocs")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        return action()
    except MkDocsException as error:
        raise SiteBuildFailed(f"the site was not built: {error}") from None
    except OSError as error:
        raise SiteBuildFailed(f"the site was not built: {error}") from None
    finally:
        logger.removeHandler(handler)


def _build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site-dir", type=Path, metavar="DIR", help="write it here (default: mkdocs.yml's)"
    )


def _build_main(args: argparse.Namespace, context: Context) -> int:
    print(f"built {site_build(cwd=context.cwd, site_dir=args.site_dir)}")
    return 0


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dev-addr", metavar="HOST:PORT", help="where to listen (default 127.0.0.1:8000)"
    )


def _serve_main(args: argparse.Namespace, context: Context) -> int:
    site_serve(cwd=context.cwd, dev_addr=args.dev_addr)
    return 0


BUILD = Command(
    description="Build the site (strict, as mkdocs.yml says).",
    add_arguments=_build_arguments,
    main=_build_main,
)
SERVE = Command(
    description="Serve the site on a local address, rebuilding when files change.",
    add_arguments=_serve_arguments,
    main=_serve_main,
)
