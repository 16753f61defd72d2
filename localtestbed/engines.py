"""Docker engines as components: the default engine and independent node engines."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path

from localtestbed import processes
from localtestbed.component import Component, note
from localtestbed.errors import PROG
from localtestbed.layout import (
    DEFAULT_ENGINE,
    node_data_dir,
    node_engine,
    node_run_dir,
)
from localtestbed.probes import engine_answers
from localtestbed.settings import Settings

DEFAULT_PIDFILE = Path("/var/run/docker.pid")
ENGINE_HINTS = (
    f"fix the cause shown in the log, then run '{PROG} up' again",
    f"if it is a leftover of an earlier run: '{PROG} down' then '{PROG} up'",
)


@functools.cache
def needs_key_file() -> bool:
    """dockerd < 23 derives its engine ID from a key file that defaults to the shared
    /etc/docker/key.json: such an engine needs a key of its own (newer ones keep their
    ID in the data root and reject the option)."""
    try:
        version = subprocess.run(
            ["dockerd", "--version"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return False
    return re.search(r"version (1[0-9]|2[0-2])\.", version) is not None


def forget_dead_containerd(exec_root: Path) -> None:
    """dockerd waits for a containerd it started earlier while the pid in that
    containerd's pidfile exists, even as a zombie: forget a containerd that is gone."""
    pidfile = exec_root / "containerd" / "containerd.pid"
    if not processes.alive(processes.read_pid(pidfile), "containerd"):
        processes.remove(pidfile)


def dockerd_engine(*, name: str, run_dir: Path, data_dir: Path, log: Path) -> Component:
    """An independent dockerd: its own socket, data root, exec root and containerd.

    Used for the node engines and for a test's fresh engine ("another machine").
    """
    url = f"unix://{run_dir}/docker.sock"
    config = data_dir / "daemon.json"

    def prepare() -> None:
        processes.remove(run_dir / "docker.sock")
        forget_dead_containerd(run_dir)
        (data_dir / "docker").mkdir(parents=True, exist_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        # A config file of its own: a host /etc/docker/daemon.json (hosts,
        # data-root...) must not leak into, or conflict with, this engine.
        options = {"deprecated-key-path": str(data_dir / "key.json")} if needs_key_file() else {}
        config.write_text(json.dumps(options) + "\n")

    command = (
        "dockerd",
        "--config-file", str(config),
        "-H", url,
        "--data-root", str(data_dir / "docker"),
        "--exec-root", str(run_dir),
        "--pidfile", str(run_dir / "docker.pid"),
        "--containerd-namespace", f"radiops-{name}",
        "--containerd-plugins-namespace", f"radiops-{name}-plugins",
        "--bridge=none", "--iptables=false", "--ip-masq=false",
    )  # fmt: skip
    return Component(
        name=name,
        address=url,
        process="dockerd",
        command=command,
        log=log,
        pidfile=run_dir / "docker.pid",
        writes_pidfile=True,
        probe=functools.partial(engine_answers, url),
        prepare=prepare,
        stop_grace=30,
        hints=ENGINE_HINTS,
    )


def node_engines(settings: Settings, names: list[str] | None = None) -> list[Component]:
    """The node engines (``node1`` ...), or those of ``names``."""
    return [
        dockerd_engine(
            name=name,
            run_dir=node_run_dir(settings, name),
            data_dir=node_data_dir(settings, name),
            log=settings.log_dir / f"{name}.log",
        )
        for name in (settings.node_names if names is None else names)
    ]


def default_engine(settings: Settings) -> Component:
    """The machine's own engine: used as is when it answers, otherwise started here."""
    return Component(
        name="default engine",
        address=DEFAULT_ENGINE,
        process="dockerd",
        command=("dockerd", "--pidfile", str(DEFAULT_PIDFILE)),
        log=settings.log_dir / "dockerd-default.log",
        pidfile=DEFAULT_PIDFILE,
        writes_pidfile=True,
        # present while the default engine runs because `up` started it
        marker=settings.run_dir / "default-engine.pid",
        probe=functools.partial(engine_answers, DEFAULT_ENGINE),
        prepare=lambda: forget_dead_containerd(Path("/var/run/docker")),
        stop_grace=30,
        hints=ENGINE_HINTS,
    )


def node_names_on_disk(settings: Settings) -> list[str]:
    """Every node whose exec root exists (``down`` stops more than today's count)."""
    return [f"node{i}" for i in range(1, 17) if node_run_dir(settings, f"node{i}").is_dir()]


def clean_after_stop(settings: Settings, engine: Component) -> None:
    """Leftovers of a node engine that is stopped: its containerd, files and mounts."""
    run_dir = node_run_dir(settings, engine.name)
    if engine.answers():
        note(
            f"node engine {engine.name} still answers on {node_engine(settings, engine.name)} "
            f"but has no live pidfile: stop that dockerd by hand, then run '{PROG} down' again"
        )
        return
    containerd = processes.read_pid(run_dir / "containerd" / "containerd.pid")
    alive = containerd is not None and processes.alive(containerd, "containerd")
    if alive and containerd is not None and not processes.stop(containerd, "containerd", 10):
        note(f"containerd of {engine.name} (pid {containerd}) survives SIGKILL")
    processes.remove(engine.pidfile, run_dir / "docker.sock")
    # mounts a killed engine left behind (its data root is bind-mounted onto
    # itself, network namespaces under the exec root)
    unmount_below(run_dir)
    unmount_below(node_data_dir(settings, engine.name))


def unmount_below(directory: Path) -> None:
    """Unmount anything left mounted at or below ``directory``, deepest first."""
    if not directory.is_dir():
        return
    prefix = str(directory)
    with Path("/proc/self/mounts").open() as mounts:
        points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    below = [p for p in points if p == prefix or p.startswith(prefix + "/")]
    for point in sorted(below, reverse=True):
        result = subprocess.run(["umount", "-l", "--", point], capture_output=True, check=False)
        if result.returncode != 0:
            note(f"could not unmount {point}")
