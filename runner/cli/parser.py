"""The ``radiops`` command line's words: every command and its flags (argparse)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runner import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits on its own; keep its exit code (2) but add the way out
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {message}\n(see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """Every command and flag of ``radiops``."""
    parser = _Parser(
        prog="radiops",
        description="Run software-defined-radio experiments from a git repository.",
    )
    parser.add_argument("--version", action="version", version=f"radiops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    validate = commands.add_parser(
        "validate",
        help="check scenarios and testbed.yaml, reporting every problem",
        description="Check scenarios, image directories and testbed.yaml against the schemas "
        "and each other. Prints every problem as file:line:column: message; exits 1 when "
        "anything is invalid.",
    )
    validate.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="experiment directories, scenario files, or the repository (default: the "
        "repository around the current directory)",
    )

    new = commands.add_parser(
        "new",
        help="scaffold a new experiment",
        description="Create experiments/NAME/ with a scenario and README, and an image for it "
        "under images/NAME/ unless --image names an existing one. Never overwrites.",
    )
    new.add_argument("name", metavar="NAME", help="the experiment's name: a lowercase slug")
    new.add_argument(
        "--image",
        metavar="IMAGE",
        help="use this image (images/<dir> or a registry reference) instead of making one",
    )
    new.add_argument("--title", help="a one-line title (default: from the name)")

    run = commands.add_parser(
        "run",
        help="run an experiment on the testbed",
        description="Run every point of the experiment's matrix on the testbed (testbed.yaml, "
        "or the local default testbed when absent) and write one manifest per run under "
        "experiments/NAME/runs/. Exits 0 when every run succeeded.",
    )
    run.add_argument("experiment", type=Path, metavar="EXPERIMENT", help="e.g. experiments/hello")
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter (replaces its matrix sweep); repeatable",
    )
    run.add_argument(
        "--repeat",
        metavar="N",
        help="run each matrix point N times (1..1000) with distinct seeds, as a group; "
        "overrides the scenario's repeat",
    )
    run.add_argument("--testbed", type=Path, metavar="FILE", help="use this inventory instead")
    run.add_argument(
        "--node",
        dest="nodes",
        action="append",
        default=[],
        metavar="NAME",
        help="only use this node; repeatable",
    )
    run.add_argument(
        "--strict", action="store_true", help="refuse registry images not pinned by digest"
    )
    run.add_argument(
        "--wait",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="how long to wait for busy nodes (default 3600)",
    )
    run.add_argument(
        "--probe-max-age",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="reuse a node's cached radio probe this young (default 3600; 0 probes again)",
    )

    reproduce = commands.add_parser(
        "reproduce",
        help="re-run a published run from its manifest and judge whether it reproduced",
        description="Re-run EXPERIMENT's run RUN_ID from the commit its manifest records (or "
        "the run in a bundle), with its parameters and seeds, on the given testbed (default: the "
        "local simulated one), and compare: images, outcome, metrics within the scenario's "
        "tolerances, outputs by sha256 or PSD distance. Writes reproduction.md and "
        "reproduction.json beside the new run. A run of a repeated group (repeat: N) re-runs "
        "the whole group and judges each metric by Welch's 95% confidence interval of the "
        "difference of means, within the tolerance. Exits 0 only when the run reproduced.",
    )
    reproduce.add_argument(
        "experiment", type=Path, nargs="?", metavar="EXPERIMENT", help="e.g. experiments/hello"
    )
    reproduce.add_argument("--run", dest="run_id", metavar="RUN_ID", help="the run to reproduce")
    reproduce.add_argument(
        "--bundle", type=Path, metavar="FILE", help="reproduce the run in this bundle instead"
    )
    reproduce.add_argument(
        "--testbed", type=Path, metavar="FILE", help="run on this inventory (default: local)"
    )

    diff = commands.add_parser(
        "diff",
        help="say what differs between two runs, most decisive first",
        description="Compare two runs (of one experiment or of two): code, parameters, images "
        "and their packages, nodes and radios, outcome, metrics (against the scenario's "
        "reproduce tolerances) and outputs (sha256, PSD distance of recordings). A run is a "
        "run folder, NAME/RUN_ID or a run id. Exits 0 whatever differs; 2 when a run cannot "
        "be read.",
    )
    diff.add_argument("run_a", metavar="RUN_A", help="e.g. hello/20261121T233100Z-1a2b3c4d")
    diff.add_argument("run_b", metavar="RUN_B", help="the run to compare it with")
    diff.add_argument("--json", action="store_true", help="print JSON (see site/diff.md)")

    recover = commands.add_parser(
        "recover",
        help="finish the runs of a runner that stopped (killed, crashed)",
        description="Find runs whose runner died (a pending.json without a manifest, and no "
        "live runner process), stop their containers if they still run, copy their results, "
        "write their manifests with one final state, and free their nodes. radiops run does "
        "this itself when it starts.",
    )
    recover.add_argument("--testbed", type=Path, metavar="FILE", help="use this inventory instead")

    bundle = commands.add_parser(
        "bundle",
        help="write one self-contained archive of a run (manifest, scenario, outputs, images)",
        description="Write RUN_ID's manifest, run directory, stored outputs, the experiment and "
        "images at the recorded commit, and each image it ran (docker save) into one tar, which "
        "radiops reproduce --bundle reproduces with no registry and no git history.",
    )
    bundle.add_argument("run_id", metavar="RUN_ID", help="e.g. 20261121T233100Z-1a2b3c4d")
    bundle.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="where to write it (default: NAME-RUN_ID.radiops-bundle.tar here)",
    )

    images = commands.add_parser(
        "images",
        help="build and push the repository's images, keep images.lock",
        description="Build images/<dir> build contexts (skipped when unchanged), push them to "
        "the testbed's registry and record their digests in images.lock.",
    )
    actions = images.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    for action, text in (
        ("build", "build the images (default: all of images/)"),
        ("push", "build if needed, push to the testbed registry, update images.lock"),
    ):
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument("paths", nargs="*", metavar="IMAGE", help="e.g. images/hello")
        sub.add_argument("--engine", metavar="URL", help="Docker engine (default: the local one)")
        if action == "push":
            sub.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    lock = actions.add_parser(
        "lock",
        help="check images.lock against the build contexts",
        description="Drop entries of images that no longer exist; with --check, fail when an "
        "entry is stale (the context changed since it was pushed).",
    )
    lock.add_argument("--check", action="store_true", help="exit 1 when images.lock is stale")

    pin = commands.add_parser(
        "pin",
        help="rewrite registry image references in scenarios to @sha256 digests",
        description="Resolve every role image given as a mutable registry tag to its digest "
        "and rewrite it in place, keeping the rest of the file byte for byte.",
    )
    pin.add_argument("paths", nargs="*", metavar="PATH", help="scenarios (default: all)")
    pin.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")

    attest = commands.add_parser(
        "attest",
        help="print a run as an in-toto Statement v1",
        description="Print the run as an in-toto Statement v1 (subjects: its outputs and logs "
        "with their sha256; predicate: its manifest), for signing with cosign or in-toto.",
    )
    attest.add_argument("run", metavar="RUN", help="a run id, or the run's directory")

    ci = commands.add_parser(
        "ci",
        help="run what a change touches, commit the results (the CI job)",
        description="Run every experiment the change BASE..HEAD touches (strict: images pinned "
        "by digest), commit each run's directory, optionally push, and print a markdown "
        "summary. Exits 1 when a run did not succeed, after everything was recorded.",
    )
    ci.add_argument("--base", required=True, metavar="REV", help="the target branch or commit")
    ci.add_argument("--head", required=True, metavar="REV", help="the commit checked out here")
    ci.add_argument("--rerun", action="store_true", help="run again what already ran")
    ci.add_argument("--push", action="store_true", help="push the result commits")
    ci.add_argument("--remote", default="origin", help="the remote to push to (default origin)")
    ci.add_argument("--branch", help="the branch to commit to (default: the checked-out one)")
    ci.add_argument("--bot-name", default="radiops", help="author of result commits")
    ci.add_argument(
        "--bot-email", default="radiops@users.noreply.github.com", help="its e-mail address"
    )
    ci.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    ci.add_argument("--summary", type=Path, metavar="FILE", help="append the summary here too")
    ci.add_argument("--site-url", metavar="URL", help="link runs to their pages on the site")
    ci.add_argument("--pr-number", type=int, metavar="N", help="the pull request, if any")
    ci.add_argument("--pr-title", default="", metavar="TITLE", help="its title")
    ci.add_argument("--pr-url", default="", metavar="URL", help="its web page")

    changed = commands.add_parser(
        "changed",
        help="list the experiments a change touches",
        description="List the experiments the change from the merge base of BASE and HEAD to "
        "HEAD touches: scenario or README edits, edits in the build context of an image a role "
        "uses, edits to declared inputs, changes of nodes a role names in testbed.yaml. "
        "Deleted and renamed experiments are listed as such.",
    )
    changed.add_argument("--base", required=True, metavar="REV", help="e.g. origin/main")
    changed.add_argument("--head", default="HEAD", metavar="REV", help="default HEAD")
    changed.add_argument("--json", action="store_true", help="print JSON")

    testbed = commands.add_parser(
        "testbed",
        help="look at the testbed's nodes",
        description="Commands about the nodes of testbed.yaml (or the local default).",
    )
    testbed_actions = testbed.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    testbed_actions.required = True
    probe = testbed_actions.add_parser(
        "probe",
        help="find each node's radios with UHD and compare them with testbed.yaml",
        description="Run UHD's discovery on each node (in a hardened container from "
        "images/sdr-base, with the node's radio devices) and compare what it finds with "
        "testbed.yaml. Exits 1 when a node lacks a radio the file claims.",
    )
    probe.add_argument("nodes", nargs="*", metavar="NODE", help="nodes to probe (default: all)")
    probe.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    probe.add_argument(
        "--max-age",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="reuse a cached probe this young (default 3600; 0 probes again)",
    )

    site = commands.add_parser(
        "site",
        help="build or serve the testbed's static site",
        description="Build (or serve with live reload) the site of every experiment and run: "
        "mkdocs with the radiops plugin, configured by mkdocs.yml at the repository root.",
    )
    site_actions = site.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    site_actions.required = True
    site_build = site_actions.add_parser(
        "build", help="build the site", description="Build the site (strict, as mkdocs.yml says)."
    )
    site_build.add_argument(
        "--site-dir", type=Path, metavar="DIR", help="write it here (default: mkdocs.yml's)"
    )
    site_serve = site_actions.add_parser(
        "serve",
        help="serve the site, rebuilding on changes",
        description="Serve the site on a local address, rebuilding when files change.",
    )
    site_serve.add_argument(
        "--dev-addr", metavar="HOST:PORT", help="where to listen (default 127.0.0.1:8000)"
    )

    watch = commands.add_parser(
        "watch",
        help="poll a git remote and run what each new branch head touches",
        description="Without GitHub: poll a git remote (any forge, or a bare repository) and, "
        "for each branch matching PATTERN whose head is new, do what 'radiops ci' does "
        "against BASE. Handled heads are remembered across restarts.",
    )
    watch.add_argument("--remote", required=True, metavar="URL", help="the git remote")
    watch.add_argument(
        "--branches", default="*", metavar="PATTERN", help="branches to watch (glob, default *)"
    )
    watch.add_argument("--base", default="main", metavar="BRANCH", help="the target branch")
    watch.add_argument(
        "--workdir", type=Path, metavar="DIR", help="clone and state (default: cache)"
    )
    watch.add_argument("--interval", type=float, default=30.0, metavar="SECONDS")
    watch.add_argument("--once", action="store_true", help="one pass, then exit")
    watch.add_argument("--no-push", action="store_true", help="commit results but do not push")
    watch.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    return parser
