"""A small disk of its own for a test (a tmpfs mounted under the test's temp folder), and filling it up: a real
ENOSPC, as a store on a full disk sees it. The tests run as root; where mounting is refused the test fails, saying
why, rather than skip."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def small_disk(path: Path, size_kb: int) -> Iterator[Path]:
    """A tmpfs of ``size_kb`` KiB mounted at ``path`` while the block runs."""
    path.mkdir(parents=True, exist_ok=True)
    as_root = [] if os.geteuid() == 0 else ["sudo", "-n"]  # GitHub's runner user has password-less sudo
    mounted = subprocess.run(
        [*as_root, "mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0777", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        raise AssertionError(
            f"cannot mount a {size_kb} KiB tmpfs at {path} for the full-disk test (it needs root or CAP_SYS_ADMIN): "
            f"{mounted.stderr.strip() or mounted.returncode}"
        )
    try:
        yield path
    finally:
        subprocess.run([*as_root, "umount", "-l", str(path)], capture_output=True, timeout=30)


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(disk: Path, leave_bytes: int, name: str = "filler") -> int:
    """Take all of ``disk``'s free space but about ``leave_bytes`` with one file; what is left free."""
    filler = disk / name
    with open(filler, "ab") as handle:
        need = free_bytes(disk) - leave_bytes
        if need > 0:
            handle.write(b"\0" * need)
    return free_bytes(disk)
