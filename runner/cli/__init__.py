"""The command line: ``radiops`` parses its arguments (parser) and dispatches to
``commands/`` (app). ``main`` is the console script's entry point."""

from __future__ import annotations

from runner.cli.app import main

__all__ = ["main"]
