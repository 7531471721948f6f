"""Child processes that start together and stop together.

Each child runs in a process group of its own (``start_new_session``), so stopping it also
stops what it started (the Celery worker's pool processes). The demo stops every group on
Ctrl-C, SIGTERM, SIGHUP, on any failure and at interpreter exit; on Linux each child also
gets SIGTERM from the kernel if the demo itself dies without cleaning up (PR_SET_PDEATHSIG),
so no orphan keeps a port busy.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from testproject.demo.config import ROOT, DemoError


class Interrupted(Exception):
    """Ctrl-C / SIGTERM / SIGHUP reached the demo."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes]

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        self.stopping = False
        atexit.register(self.stop_all)

    def install_signal_handlers(self) -> None:
        def interrupt(signum: int, frame: Any) -> None:
            if not self.stopping:
                raise Interrupted(signal.Signals(signum).name)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, interrupt)

    def start(
        self, name: str, cmd: list[str], env: dict[str, str], stdout: Path | None = None
    ) -> Child:
        """Start ``cmd``; its stderr (and stdout, unless ``stdout`` names a file) go to
        logs/<name>.log."""
        log = self.log_dir / f"{name}.log"
        handle = log.open("wb")
        out = stdout.open("wb") if stdout is not None else handle
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=handle,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            handle.close()
            raise DemoError(f"could not start the {name}: {exc}") from exc
        finally:
            if out is not handle:
                out.close()
        child = Child(name, proc, log, handle)
        self.children.append(child)
        return child

    def check_alive(self) -> None:
        """Raise DemoError naming the first child that exited."""
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                raise DemoError(
                    f"the {child.name} stopped unexpectedly (exit code {code}); "
                    f"last lines of {child.log}:\n{child.tail()}"
                )

    def wait_for(
        self, what: str, predicate: Callable[[], bool], timeout: float, interval: float = 0.2
    ) -> None:
        """Poll ``predicate`` until true; DemoError on timeout or when a child dies."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            if predicate():
                return
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def stop_all(self, grace: float = 15.0) -> None:
        """SIGTERM every child's process group, then SIGKILL what is left after ``grace``.
        Idempotent (it also runs at exit)."""
        self.stopping = True
        # Celery's warm shutdown and runserver both stop on SIGTERM.
        for child in reversed(self.children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in reversed(self.children):
            while _group_alive(child.proc) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _group_alive(child.proc):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=5)
            child.handle.close()
        self.children.clear()


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the child or anything left in its process group still runs."""
    proc.poll()  # reap the leader if it exited
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) succeeds while a zombie leader is unreaped; poll() above reaped it.
    return True
