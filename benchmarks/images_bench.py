"""Images benchmark: sizes and biggest packages, cold and cached builds, a package-change rebuild, the bento image's
start to /readyz, and the training image's run on the sample against the same run outside a container.

    .venv/bin/python benchmarks/images_bench.py --store artifacts --out benchmarks/images-results.md

Cold builds remove the three images and their cached layers first (the Python base is made once, and timed on its
own). Let nothing else run meanwhile: these are wall-clock numbers on a 2-core machine. Numbers, never assertions.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench_report import publish

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
SPEC = importlib.util.spec_from_file_location("project_images", ROOT / "scripts" / "images.py")
images = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(images)

# Targets for the bento image (size, start to /readyz): Fargate pulls the whole image on every task start (no cache).
BENTO_TARGET_MB = 600
READY_TARGET_S = 5.0

SITE_PACKAGES = {
    "training": "/opt/venv/lib/python3.11/site-packages",
    "airflow": "/opt/venv/lib/python3.11/site-packages",
    "bento": "/app/.venv/lib/python3.11/site-packages",
}


def engine_run(command: str, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([command, *args], env=images.engine_env(command), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{command} {' '.join(args[:3])}: {result.stderr[-2000:]}")
    return result


def drop_images(command: str) -> None:
    """Remove the three images and every cached layer no other image uses (the base stays)."""
    for ref in images.IMAGES.values():
        engine_run(command, "rmi", "--force", ref, check=False)
    for tag in engine_run(command, "images", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split():
        if "tweet-sentiment" in tag:
            engine_run(command, "rmi", "--force", tag, check=False)
    for _ in range(3):  # dangling layers of a chain are freed one level per pass
        engine_run(command, "image", "prune", "--force", check=False)


def biggest_packages(command: str, name: str, count: int = 6) -> list[tuple[str, int]]:
    script = f"du -sk {SITE_PACKAGES[name]}/* | sort -rn | head -{count}"
    ref = images.IMAGES[name]
    out = engine_run(command, "run", "--rm", "--no-healthcheck", "--entrypoint", "sh", ref, "-c", script).stdout
    return [(Path(path).name, int(kb) * 1024) for kb, path in (line.split(None, 1) for line in out.splitlines())]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_to_ready(command: str, ref: str) -> float:
    """Seconds from `run --detach` to the first 200 from /readyz."""
    port = free_port()
    name = f"bench-bento-{port}"
    started = time.monotonic()
    publish = f"127.0.0.1:{port}:3000"
    engine_run(command, "run", "--detach", "--rm", "--no-healthcheck", "--name", name, "--publish", publish, ref)
    try:
        while time.monotonic() - started < 180:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{ref} not ready after 180 s")
    finally:
        engine_run(command, "rm", "--force", name, check=False)


def training_runs(command: str, sample: Path, repeats: int) -> dict[str, list[float]]:
    """The default `sentiment-pipeline run` on the sample, in the image (read-only root, /tmp scratch, no network)
    and on the host, alternating so both see the same machine."""
    times: dict[str, list[float]] = {"container": [], "host": []}
    for i in range(repeats):
        for where in ("container", "host") if i % 2 == 0 else ("host", "container"):
            with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
                started = time.monotonic()
                if where == "container":
                    engine_run(
                        command, "run", "--rm", "--no-healthcheck", "--read-only", "--read-only-tmpfs=false",
                        "--tmpfs", "/tmp:rw,size=4g,mode=1777", "--network", "none", "--user", "10001:10001",  # noqa: S108
                        "-e", "HOME=/tmp", "-e", "BENTOML_HOME=/tmp/bentoml", "-e", "JUPYTER_RUNTIME_DIR=/tmp/jr",
                        "-e", "IPYTHONDIR=/tmp/ipython", "-v", f"{sample}:/data/sample.csv:ro",
                        images.IMAGES["training"], "sentiment-pipeline", "run", "--data", "/data/sample.csv",
                        "--store", "/tmp/store",  # noqa: S108 (inside the container)
                    )  # fmt: skip
                else:
                    subprocess.run(
                        [str(BIN / "sentiment-pipeline"), "run", "--data", str(sample), "--store", tmp],
                        check=True, capture_output=True,
                    )  # fmt: skip
                times[where].append(time.monotonic() - started)
    return times


def package_change_rebuild(command: str, base: str | None) -> tuple[float, bool, list[str]]:
    """Rebuild the training image from a copy of the tree whose package has one changed line.

    Returns seconds, whether the dependency install came from the cache, and the RUN/COPY steps that ran again.
    """
    with tempfile.TemporaryDirectory(prefix="bench-tree-") as tmp:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        for name in files.split():
            if (ROOT / name).is_file():
                (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, Path(tmp) / name)
        init = Path(tmp) / "sentiment_pipeline" / "__init__.py"
        init.write_text(init.read_text() + f"# benchmark: one changed line ({time.time_ns()})\n")
        cmd = [command, "build", "--layers", "--format", "docker", "-f", f"{tmp}/containers/training/Dockerfile"]
        cmd += ["-t", "bench-training:changed", "--build-arg", "GIT_COMMIT=bench"]
        cmd += ["--build-arg", f"BASE_IMAGE={base}"] if base else []
        cmd += ["--volume", f"{images.CA_BUNDLE}:{images.CA_BUNDLE}:ro"] if images.CA_BUNDLE.is_file() else []
        started = time.monotonic()
        result = subprocess.run([*cmd, tmp], env=images.engine_env(command), capture_output=True, text=True)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-2000:])
    engine_run(command, "rmi", "--force", "bench-training:changed", check=False)
    # the build's steps, each followed by "Using cache" when it was taken from the cache
    steps, cached = [], set()
    for line in result.stdout.splitlines():
        if "STEP " in line and "/" in line.split("STEP ", 1)[1].split(":", 1)[0]:
            steps.append(line.split(": ", 1)[1] if ": " in line else line)
        elif line.startswith("--> Using cache") and steps:
            cached.add(len(steps) - 1)
    [install] = [i for i, step in enumerate(steps) if step.startswith("RUN python -m venv --without-pip /opt/venv")]
    rebuilt = [steps[i] for i in range(len(steps)) if i not in cached and steps[i].startswith(("RUN", "COPY"))]
    return seconds, install in cached, rebuilt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="artifacts")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--repeats", type=int, default=2, help="training runs in and out of a container, each")
    args = parser.parse_args()
    command = images.engine()
    started = datetime.now(UTC)

    base_seconds = None
    if images.can_make_base(command) and not os.environ.get("BASE_IMAGE"):
        engine_run(command, "rmi", "--force", images.LOCAL_BASE, check=False)
        t0 = time.monotonic()
        images.build_base(command)
        base_seconds = time.monotonic() - t0
    base = images.base_image(command)

    drop_images(command)
    cold = images.build_images(list(images.IMAGES), args.store)
    t0 = time.monotonic()
    cached = images.build_images(list(images.IMAGES), args.store)
    cached_total = time.monotonic() - t0
    change_seconds, install_cached, rebuilt = package_change_rebuild(command, base)
    sizes = images.sizes(command)
    packages = {name: biggest_packages(command, name) for name in images.IMAGES}
    ready = [start_to_ready(command, images.IMAGES["bento"]) for _ in range(3)]
    sample = ROOT / "data" / "sample.csv"
    if not sample.is_file():
        subprocess.run([str(BIN / "sentiment-pipeline"), "sample", "--out", str(sample)], check=True)
    runs = training_runs(command, sample.resolve(), args.repeats)

    engine_version = engine_run(command, "--version").stdout.strip()
    lines = [
        "# Images benchmark",
        "",
        f"Produced by `make bench-images` (`.venv/bin/python benchmarks/images_bench.py --store {args.store} "
        f"--out benchmarks/images-results.md`) on {started:%Y-%m-%d}.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()} on the "
        f"host; engine: {engine_version}; base: `{base or 'the Dockerfiles default (official python image)'}`.",
        "",
        "| image | size | cold build | cached rebuild (no change) |",
        "|---|---|---|---|",
    ]
    for name, ref in images.IMAGES.items():
        lines.append(f"| `{ref}` | {sizes.get(name, 0) / 1e6:,.0f} MB | {cold[name]:.0f} s | {cached[name]:.1f} s |")
    lines += [
        "",
        f"Cached `make images` with no change, all three (incl. `sentiment-pipeline package`'s no-op): "
        f"**{cached_total:.0f} s**.",
    ]
    if base_seconds is not None:
        lines.append(
            "The Python base made from Debian's packages (mmdebstrap minbase without docs, translations or Perl "
            f"+ python3 + a venv), made once and "
            f"shared by all three: {base_seconds:.0f} s, {images.image_size(command, images.LOCAL_BASE) / 1e6:.0f} MB."
        )
    lines += [
        f"A one-line change in the package rebuilds the training image in **{change_seconds:.0f} s**; the "
        f"dependency install {'came from the cache' if install_cached else 'ran again'}, and these RUN/COPY steps "
        f"ran: {'; '.join(f'`{step[:60]}`' for step in rebuilt)}.",
        "",
        "Biggest packages in each image's site-packages:",
        "",
        "| image | packages (size) |",
        "|---|---|",
    ]
    for name, found in packages.items():
        listed = ", ".join(f"{pkg} {size / 1e6:,.0f} MB" for pkg, size in found)
        lines.append(f"| `{images.IMAGES[name]}` | {listed} |")
    lines += [
        "",
        f"Bento image, `run --detach` to the first 200 from `/readyz` (3 starts): "
        f"{', '.join(f'{s:.1f}' for s in ready)} s, median **{statistics.median(ready):.1f} s** (target: 5 s, "
        f"{'met' if statistics.median(ready) <= READY_TARGET_S else 'MISSED'}).",
        f"Bento image size: **{sizes.get('bento', 0) / 1e6:,.0f} MB** (target: {BENTO_TARGET_MB} MB, "
        f"{'met' if sizes.get('bento', 0) / 1e6 <= BENTO_TARGET_MB else 'MISSED'}): ONNX Runtime serves the model, "
        "no TensorFlow.",
        "",
        f"Training on the sample (`sentiment-pipeline run`, default parameters, {args.repeats} runs each, "
        "alternating):",
        "",
        "| where | runs (s) | median |",
        "|---|---|---|",
    ]
    for where, label in (("container", "training image: read-only root, /tmp tmpfs, no network, uid 10001"),
                         ("host", "host, project venv")):  # fmt: skip
        values = runs[where]
        lines.append(f"| {label} | {', '.join(f'{v:.0f}' for v in values)} | {statistics.median(values):.0f} |")
    ratio = statistics.median(runs["container"]) / statistics.median(runs["host"])
    lines += ["", f"Container / host: **{ratio:.2f}x**.", ""]
    publish(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
