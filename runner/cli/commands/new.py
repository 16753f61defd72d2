"""``radiops new NAME``: scaffold an experiment that validates at once."""

from __future__ import annotations

import argparse
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2

from runner.cli.command import Command, Context
from runner.gitops.gitinfo import current_user
from runner.model.checks import image_path_problems
from runner.model.errors import UsageError
from runner.model.experiment import SCENARIO_FILE, SCHEMA_LINE, is_image_path
from runner.model.repo import Repository, find_repository

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){0,62}(?<!-)$")


@dataclass(frozen=True, kw_only=True)
class Created:
    directory: Path
    scenario: Path
    files: tuple[Path, ...]


def new(name: str, *, cwd: Path, image: str | None = None, title: str | None = None) -> Created:
    """Create experiments/<name>/ (and images/<name>/ unless ``image`` is given).

    Refuses to touch anything that exists; on any failure removes only what
    it created, so a user's files are never lost or half-overwritten.
    """
    if not NAME.match(name):
        raise UsageError(
            f"'{name}' is not a valid experiment name: use lowercase letters, digits and "
            "single hyphens, starting and ending with a letter or digit (e.g. ber-sweep)"
        )
    repo = find_repository(cwd)
    directory = repo.experiments_dir / name
    if directory.exists():
        raise UsageError(f"{_shown(directory, repo, cwd)} already exists; choose another name")
    make_image = image is None
    image_ref = image or f"images/{name}"
    image_dir = repo.root / image_ref
    if make_image and image_dir.exists():
        raise UsageError(
            f"{_shown(image_dir, repo, cwd)} already exists; reuse it with --image {image_ref}"
        )
    if not make_image and is_image_path(image_ref):
        problems = image_path_problems(image_ref, repo)
        if problems:
            raise UsageError(f"--image {image_ref}: {problems[0]}")

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("runner", "templates/new"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML, Markdown and shell, not HTML; values go through tojson
    )
    values = {
        "name": name,
        "title": title or name.replace("-", " ").capitalize(),
        "author": current_user(),
        "image": image_ref,
        "schema_line": SCHEMA_LINE,
    }
    plan = {
        directory / SCENARIO_FILE: "experiment.yaml.j2",
        directory / "README.md": "README.md.j2",
    }
    if make_image:
        plan[image_dir / "Dockerfile"] = "Dockerfile.j2"
        plan[image_dir / "run.sh"] = "run.sh.j2"
    made: list[Path] = []
    try:
        for target in (directory, image_dir) if make_image else (directory,):
            target.mkdir(parents=True)
            made.append(target)
        for path, template in plan.items():
            path.write_text(env.get_template(template).render(values), encoding="utf-8")
    except BaseException:
        for folder in reversed(made):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return Created(
        directory=Path(_shown(directory, repo, cwd)),
        scenario=Path(_shown(directory / SCENARIO_FILE, repo, cwd)),
        files=tuple(Path(_shown(p, repo, cwd)) for p in plan),
    )


def _shown(path: Path, repo: Repository, cwd: Path) -> str:
    return repo.display(path, cwd=cwd)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the experiment's name: a lowercase slug")
    parser.add_argument(
        "--image",
        metavar="IMAGE",
        help="use this image (images/<dir> or a registry reference) instead of making one",
    )
    parser.add_argument("--title", help="a one-line title (default: from the name)")


def _main(args: argparse.Namespace, context: Context) -> int:
    created = new(args.name, cwd=context.cwd, image=args.image, title=args.title)
    for path in created.files:
        print(f"created {path}")
    print(f"next: edit {created.scenario}, then run 'radiops validate {created.directory}'")
    return 0


COMMAND = Command(
    description="Create experiments/NAME/ with a scenario and README, and an image for it "
    "under images/NAME/ unless --image names an existing one. Never overwrites.",
    add_arguments=_arguments,
    main=_main,
)
