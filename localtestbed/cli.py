"""``scripts/testbed COMMAND``: the arguments, the output and the exit codes."""

from __future__ import annotations

import argparse
import json
import re
import sys

from localtestbed import commands
from localtestbed.errors import PROG, TestbedError
from localtestbed.layout import describe
from localtestbed.settings import Settings, SettingsError

USAGE = f"""\
usage: {PROG} COMMAND

  up [--default-only] [--json]
                start what is missing: the default engine, the node engines
                (RADIOPS_TESTBED_NODES, default 2), the registry on 127.0.0.1
                (RADIOPS_REGISTRY_PORT, default 5000), the base image on every
                engine; write testbed.yaml (idempotent). --default-only: only the
                default engine and the base image (the local default testbed)
  down [--purge]
                stop what 'up' started (data is kept); --purge also deletes
                the testbed's state and data directories
  image SUITE   debian:SUITE-slim (another Debian release, e.g. trixie) on the
                default engine, made with mmdebstrap when absent
  status [--json]
                one line per component; exit 0 when everything is up, 3 if not
  env [--json]  print export lines for RADIOPS_TESTBED_FILE, RADIOPS_REGISTRY,
                RADIOPS_NODE_ENGINES and RADIOPS_DEFAULT_ENGINE

Environment: RADIOPS_TESTBED_NODES, RADIOPS_REGISTRY_PORT, RADIOPS_TESTBED_STATE,
RADIOPS_TESTBED_RUN, RADIOPS_TESTBED_TIMEOUT, RADIOPS_TESTBED_PODMAN=1
(a Podman node, and the iptables FORWARD rule its networks need: shown by status,
removed by down).
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{USAGE}\n{PROG}: error: {message}\n")
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog=PROG, usage=USAGE, add_help=True)
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    up = sub.add_parser("up")
    up.add_argument("--default-only", action="store_true")
    up.add_argument("--json", action="store_true")
    down = sub.add_parser("down")
    down.add_argument("--purge", action="store_true")
    image = sub.add_parser("image")
    image.add_argument("suite")
    for name in ("status", "env"):
        sub.add_parser(name).add_argument("--json", action="store_true")
    return top


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "up":
        report = commands.up(settings, only_default=args.default_only)
        print(report.as_json() if args.json else report.as_text(settings))
    elif args.command == "down":
        print(commands.down(settings, purge=args.purge))
    elif args.command == "image":
        if re.fullmatch(r"[a-z][a-z0-9-]{0,31}", args.suite) is None:
            raise TestbedError(f"'{args.suite}' is not a Debian suite name (e.g. trixie)")
        print(commands.image(settings, args.suite))
    elif args.command == "status":
        text, code = commands.status_exit(settings, as_json=args.json)
        print(text)
        return code
    elif args.json:
        print(json.dumps(describe(settings).as_json(), indent=2))
    else:
        print(commands.env_lines(settings))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args, Settings.from_env())
    except SettingsError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except TestbedError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
