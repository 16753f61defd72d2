"""The records of ``radiops diff``: what differs between two runs (:class:`RunDiff`, its
sections and items) and what the caller found beside their manifests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.model.experiment import OutputComparison, Tolerance
from runner.model.sbom import StoredInventory

FORMAT = "radiops-diff/1"
SECTIONS = ("code", "parameters", "images", "nodes", "outcome", "metrics", "outputs")
Scalar = str | int | float | bool | None


#: (output of A, output of B) -> PSD distance in dB, or why there is none
PsdDistance = Callable[[Mapping[str, Any], Mapping[str, Any]], "float | str"]


@dataclass(frozen=True, kw_only=True)
class Item:
    key: str
    a: Scalar
    b: Scalar
    change: str  # changed | added | removed | within | beyond
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Section:
    name: str
    items: tuple[Item, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def same(self) -> bool:
        return not self.items


@dataclass(frozen=True, kw_only=True)
class RunDiff:
    a: Mapping[str, Any]  # who A is: run, experiment, run_id, commit, finished
    b: Mapping[str, Any]
    sections: tuple[Section, ...]

    @property
    def same(self) -> bool:
        return all(section.same for section in self.sections)


@dataclass(frozen=True, kw_only=True)
class CodeChanges:
    """Files of the experiments and images changed between the two commits (from git)."""

    files: tuple[tuple[str, str], ...] = ()  # (status, path), sorted by path
    more: int = 0  # changed files not listed (over the cap)
    note: str | None = None  # why the files could not be listed


@dataclass(frozen=True, kw_only=True)
class Yardstick:
    """The scenario's ``reproduce`` tolerances, and where they were read."""

    metrics: Mapping[str, Tolerance] = field(default_factory=dict)
    outputs: Mapping[str, OutputComparison] = field(default_factory=dict)
    source: str | None = None  # None: no scenario to read them from


@dataclass(frozen=True, kw_only=True)
class RunSide:
    label: str  # how the run was named to people: <experiment>/<run id>
    manifest: Mapping[str, Any]
    #: image ID -> its inventory, or why it is not available
    inventories: Mapping[str, StoredInventory | str] = field(default_factory=dict)
