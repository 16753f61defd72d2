"""Every command of ``radiops``: one line each, in the order ``radiops --help`` lists them.

Adding a command: write ``runner/cli/commands/NAME.py`` ending in
``COMMAND = Command(description=..., add_arguments=..., main=...)`` and add its line here.
"""

from __future__ import annotations

from runner.cli.command import Group, Leaf

_C = "runner.cli.commands."

COMMANDS: tuple[Leaf | Group, ...] = (
    Leaf(
        name="validate",
        help="check scenarios and testbed.yaml, reporting every problem",
        module=_C + "validate",
    ),
    Leaf(name="new", help="scaffold a new experiment", module=_C + "new"),
    Leaf(name="run", help="run an experiment on the testbed", module=_C + "run"),
    Leaf(
        name="shell",
        help="open a shell in a role's container on a node, reserved and hardened as a run",
        module=_C + "shell",
    ),
    Leaf(
        name="reproduce",
        help="re-run a published run from its manifest and judge whether it reproduced",
        module=_C + "reproduce",
    ),
    Leaf(
        name="diff",
        help="say what differs between two runs, most decisive first",
        module=_C + "diff",
    ),
    Leaf(
        name="recover",
        help="finish the runs of a runner that stopped (killed, crashed)",
        module=_C + "recover",
    ),
    Leaf(
        name="bundle",
        help="write one self-contained archive of a run (manifest, scenario, outputs, images)",
        module=_C + "reproduce:BUNDLE",
    ),
    Group(
        name="images",
        help="build and push the repository's images, keep images.lock",
        description="Build images/<dir> build contexts (skipped when unchanged), push them to "
        "the testbed's registry and record their digests in images.lock.",
        actions=(
            Leaf(
                name="build",
                help="build the images (default: all of images/)",
                module=_C + "images:BUILD",
            ),
            Leaf(
                name="push",
                help="build if needed, push to the testbed registry, update images.lock",
                module=_C + "images:PUSH",
            ),
            Leaf(
                name="lock",
                help="check images.lock against the build contexts",
                module=_C + "images:LOCK",
            ),
        ),
    ),
    Leaf(
        name="pin",
        help="rewrite registry image references in scenarios to @sha256 digests",
        module=_C + "pin",
    ),
    Leaf(name="attest", help="print a run as an in-toto Statement v1", module=_C + "attest"),
    Leaf(
        name="ci",
        help="run what a change touches, commit the results (the CI job)",
        module=_C + "ci",
    ),
    Leaf(name="changed", help="list the experiments a change touches", module=_C + "changed"),
    Leaf(
        name="comment",
        help="post or update the summary comment of a pull request (the CI job)",
        module=_C + "comment",
    ),
    Group(
        name="testbed",
        help="look at the testbed's nodes",
        description="Commands about the nodes of testbed.yaml (or the local default).",
        actions=(
            Leaf(
                name="probe",
                help="find each node's radios with UHD and compare them with testbed.yaml",
                module=_C + "probe",
            ),
            Leaf(
                name="check",
                help="run the nodes' health checks; quarantine nodes that keep failing",
                module=_C + "testbed_check",
            ),
            Leaf(
                name="clear",
                help="lift a node's quarantine",
                module=_C + "testbed_check:CLEAR",
            ),
            Leaf(
                name="status",
                help="every node: free or held, quarantined or not; runs waiting",
                module=_C + "testbed_status",
            ),
            Leaf(
                name="prune-datasets",
                help="remove dataset volumes no container mounts and no run used lately",
                module=_C + "testbed_prune",
            ),
        ),
    ),
    Group(
        name="site",
        help="build or serve the testbed's static site",
        description="Build (or serve with live reload) the site of every experiment and run: "
        "mkdocs with the radiops plugin, configured by mkdocs.yml at the repository root.",
        actions=(
            Leaf(name="build", help="build the site", module=_C + "site:BUILD"),
            Leaf(
                name="serve", help="serve the site, rebuilding on changes", module=_C + "site:SERVE"
            ),
        ),
    ),
    Leaf(
        name="watch",
        help="poll a git remote and run what each new branch head touches",
        module=_C + "watch",
    ),
)
