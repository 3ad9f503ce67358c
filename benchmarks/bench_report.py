"""How every benchmark publishes its numbers: printed, and written to its results file with the command in it."""

from __future__ import annotations

from pathlib import Path


def publish(lines: list[str], out: str | Path | None) -> None:
    report = "\n".join(lines).rstrip("\n") + "\n"
    print(report, end="")
    if out:
        Path(out).write_text(report)
