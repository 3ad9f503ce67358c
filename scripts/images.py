"""Build the product's three images with the container engine found here; ``make images`` runs ``build``.

    python scripts/images.py build [training airflow bento]   build (cached) and tag, then print the sizes
    python scripts/images.py base                               only the Debian-made Python base (podman)
    python scripts/images.py sizes                              the sizes of the three tagged images

Engine: ``$CONTAINER_ENGINE``, else podman when installed, else docker when its daemon answers. With podman,
``containers/containers.conf`` is passed as ``CONTAINERS_CONF`` (the two settings these machines need) and the
machine's CA bundle is mounted read-only into the build alone, so pip reaches the package index behind a
TLS-inspecting proxy; it is never copied into an image.

Base image: every Dockerfile takes ``BASE_IMAGE`` (default: the official ``python:3.11.14-slim-bookworm``, what
GitHub and AWS builds use). ``$BASE_IMAGE`` overrides it; with podman and no override the base is made here from
Debian's packages (mmdebstrap minbase, slimmed, + ``python3`` + ``python3-venv`` + a venv with a current pip on PATH),
because no image registry is reachable from these machines.

The bento image is built from exactly the build context ``sentiment-pipeline package`` uploads for Kaniko, for
the newest succeeded run of ``$STORE`` (default ``artifacts``), which a run on the sample creates if there is none.
Only the standard library: this runs before and outside the project environment's imports.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
CONTAINERS_CONF = ROOT / "containers" / "containers.conf"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # what Debian's ca-certificates writes
LOCAL_WHEELS = Path(os.environ.get("PIP_FIND_LINKS") or "/opt/wheels")  # pip's find-links, if any: torch's CPU build
IMAGES = {
    "training": "sentiment-training:latest",
    "airflow": "sentiment-airflow:latest",
    "bento": "tweet-sentiment:latest",
}
DOCKERFILES = {
    "training": ROOT / "containers" / "training" / "Dockerfile",
    "airflow": ROOT / "containers" / "airflow" / "Dockerfile",
}
BENTO_DOCKERFILE = "env/docker/Dockerfile"  # inside the build context (sentiment_pipeline.deploy.packaging.DOCKERFILE)

# The Python base made from Debian's packages (bookworm: Python 3.11.2).
LOCAL_BASE = "localhost/sentiment-python:3.11-bookworm"
DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("ca-certificates", "python3", "python3-venv")
SLIM_EXCLUDED = ("doc", "man", "locale", "info", "groff", "lintian", "linda")
# Debian's venv brings pip 23.0.1, which ignores the system CA store; from 24.2 pip trusts it (truststore).
BASE_PIP = "pip==26.0.1"
BASE_PATH = "/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageError(Exception):
    """A build step failed or a prerequisite is missing (one line for the user)."""


def log(message: str) -> None:
    print(f"images: {message}", file=sys.stderr, flush=True)


# ---- engine -------------------------------------------------------------------------------------------------
def engine() -> str:
    """The container engine's command: $CONTAINER_ENGINE, podman, or docker with a running daemon."""
    chosen = os.environ.get("CONTAINER_ENGINE")
    if chosen:
        if not shutil.which(chosen):
            raise ImageError(f"CONTAINER_ENGINE={chosen} is not on PATH")
        return chosen
    if shutil.which("podman"):
        return "podman"
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:  # noqa: S607
        return "docker"
    raise ImageError("no container engine: install podman (scripts/install-system-deps.sh does) or start Docker")


def is_podman(command: str) -> bool:
    return Path(command).name == "podman"


def engine_env(command: str) -> dict[str, str]:
    env = dict(os.environ)
    if is_podman(command):
        env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def run(cmd: list[str], *, env: dict | None = None, capture: bool = False, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, env=env, text=True, capture_output=capture, **kwargs)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "")[-3000:] if capture else ""
        raise ImageError(f"{' '.join(cmd[:4])} ... exited {result.returncode}\n{detail}".rstrip())
    return result


def image_exists(command: str, ref: str) -> bool:
    return (
        subprocess.run([command, "image", "inspect", ref], capture_output=True, env=engine_env(command)).returncode == 0
    )


def image_label(command: str, ref: str, label: str) -> str | None:
    result = subprocess.run(
        [command, "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
        capture_output=True,
        text=True,
        env=engine_env(command),
    )
    if result.returncode != 0:
        return None
    return (json.loads(result.stdout.strip() or "null") or {}).get(label)


def image_size(command: str, ref: str) -> int:
    out = run([command, "image", "inspect", "--format", "{{.Size}}", ref], env=engine_env(command), capture=True)
    return int(out.stdout.strip())


# ---- the Python base from Debian's packages ----------------------------------------------------------------------
def debian_sources() -> list[str]:
    """The machine's own apt lines for bookworm, bookworm-updates and bookworm-security (one-line format)."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    lines: list[str] = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text()
        if path.suffix == ".sources":
            for stanza in text.split("\n\n"):
                fields: dict[str, str] = {}
                for raw in stanza.splitlines():
                    if raw.startswith("#") or ":" not in raw or raw.startswith((" ", "\t")):
                        continue
                    key, value = raw.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
                if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
                    continue
                for uri in fields.get("uris", "").split():
                    for suite in fields.get("suites", "").split():
                        if suite.split("-")[0] == DEBIAN_SUITE:
                            lines.append(f"deb {uri} {suite} {fields.get('components', 'main')}")
        elif path.suffix == ".list":
            for raw in text.splitlines():
                parts = raw.split("#", 1)[0].split()
                if len(parts) >= 3 and parts[0] == "deb" and not parts[1].startswith("["):
                    if parts[2].split("-")[0] == DEBIAN_SUITE:
                        lines.append(" ".join(parts))
    if not any(line.split()[2] == DEBIAN_SUITE for line in lines):
        raise ImageError(f"no Debian {DEBIAN_SUITE} apt source on this machine to build the base image from")
    return lines


def base_recipe() -> str:
    """What the base is made of; a change rebuilds it."""
    recipe = {"suite": DEBIAN_SUITE, "packages": BASE_PACKAGES, "pip": BASE_PIP, "path": BASE_PATH, "v": 2}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def build_base(command: str) -> str:
    """``localhost/sentiment-python:3.11-bookworm``: minbase + Debian's python3 + a venv at /opt/python on PATH."""
    recipe = base_recipe()
    if image_label(command, LOCAL_BASE, "org.sentiment-pipeline.base-recipe") == recipe:
        return LOCAL_BASE
    if not is_podman(command):
        raise ImageError(f"the Debian-made base is built with podman; with {command} use the official base")
    if not shutil.which("mmdebstrap"):
        raise ImageError("mmdebstrap is not installed (scripts/install-system-deps.sh installs it)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sentiment-base-") as tmp:
        work = Path(tmp)
        # pip comes from the package index through the host's pip (the chroot has no proxy CA): a wheel copied in
        run(
            [str(BIN / "pip"), "download", "--quiet", "--no-deps", "--only-binary=:all:", BASE_PIP, "-d", str(work)],
            capture=True,
        )
        [wheel] = work.glob("pip-*.whl")
        sources = work / "sources.list"
        sources.write_text("\n".join(debian_sources()) + "\n")
        log(f"making {LOCAL_BASE} with mmdebstrap ({', '.join(BASE_PACKAGES)})")
        run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                # merged /usr made by mmdebstrap itself: the usrmerge package would pull in Perl (46 MB) for good
                "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                # what Debian's own slim images leave out (documentation, manuals, translations), licences kept
                *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in SLIM_EXCLUDED),
                "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                f"--include={','.join(BASE_PACKAGES)}",
                f"--customize-hook=copy-in {wheel} /tmp",
                '--customize-hook=chroot "$1" python3 -m venv /opt/python',
                f'--customize-hook=chroot "$1" /opt/python/bin/python -m pip install -q --no-index /tmp/{wheel.name}',
                f'--customize-hook=rm -f "$1/tmp/{wheel.name}"; rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
                DEBIAN_SUITE,
                str(work / "base.tar"),
                str(sources),
            ],
            capture=True,
        )
        run(
            [
                command,
                "import",
                "--change",
                f"ENV PATH={BASE_PATH}",
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                f"LABEL org.sentiment-pipeline.base-recipe={recipe}",
                "--change",
                'CMD ["python"]',
                str(work / "base.tar"),
                LOCAL_BASE,
            ],
            env=engine_env(command),
            capture=True,
        )
    log(f"{LOCAL_BASE} made in {time.monotonic() - started:.0f} s")
    return LOCAL_BASE


def can_make_base(command: str) -> bool:
    """podman, mmdebstrap and Debian bookworm apt sources: what making the base here takes."""
    try:
        return is_podman(command) and bool(shutil.which("mmdebstrap")) and bool(debian_sources())
    except ImageError:
        return False


def base_image(command: str) -> str | None:
    """The BASE_IMAGE build argument: $BASE_IMAGE; else the Debian-made base where podman can make it (these
    machines reach no image registry); else None, the Dockerfiles' official default (GitHub, AWS, Docker)."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    return build_base(command) if can_make_base(command) else None


# ---- builds -----------------------------------------------------------------------------------------------------
def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)  # noqa: S607
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def build(command: str, dockerfile: Path, context: Path, tags: list[str], base: str | None, **args: str) -> float:
    cmd = [command, "build", "--file", str(dockerfile)]
    for tag in tags:
        cmd += ["--tag", tag]
    for key, value in {**({"BASE_IMAGE": base} if base else {}), **args}.items():
        cmd += ["--build-arg", f"{key}={value}"]
    if is_podman(command):
        cmd += ["--layers", "--format", "docker"]  # Docker's image format keeps HEALTHCHECK (OCI's drops it)
        if CA_BUNDLE.is_file():  # for the build alone, read-only; never part of a layer
            cmd += ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
        if dockerfile == DOCKERFILES["training"] and any(LOCAL_WHEELS.glob("torch-*+cpu-*.whl")):
            # This machine's CPU build of torch, read-only for the build alone, instead of the torch index.
            cmd += ["--volume", f"{LOCAL_WHEELS}:{LOCAL_WHEELS}:ro", "--build-arg", f"PIP_FIND_LINKS={LOCAL_WHEELS}"]
            cmd += ["--build-arg", "TORCH_INDEX="]
    started = time.monotonic()
    log(f"building {tags[0]} ({dockerfile.relative_to(context) if dockerfile.is_relative_to(context) else dockerfile})")
    run([*cmd, str(context)], env=engine_env(command))
    return time.monotonic() - started


def cli(*args: str) -> str:
    return run([str(BIN / "sentiment-pipeline"), *args], capture=True).stdout


def bento_context(store: str) -> Path:
    """The Kaniko build context of the newest succeeded run of ``store`` (made on the sample if it has none)."""
    latest = Path(store) / "latest.json"
    if not latest.is_file():
        sample = ROOT / "data" / "sample.csv"
        if not sample.is_file():
            cli("sample", "--out", str(sample))
        log(f"no succeeded run in {store}: running the pipeline on {sample.relative_to(ROOT)}")
        cli("run", "--data", str(sample), "--store", store)
    packaged = json.loads(
        cli("package", "--store", store, "--run-id", "latest", "--project-dir", str(ROOT)).splitlines()[-1]
    )
    uri = packaged["context_uri"]
    return Path(uri.removeprefix("file://")) if uri.startswith("file://") else Path(uri)


def build_bento(
    command: str, base: str | None, store: str, context_tarball: Path | None = None, *, latest: bool = True
) -> tuple[float, str]:
    """Build the bento image from ``context_tarball`` (default: the newest run of ``store``'s), tagged
    ``tweet-sentiment:<version>`` and, if ``latest``, ``tweet-sentiment:latest``; returns seconds and version."""
    tarball = context_tarball or bento_context(store)
    with tempfile.TemporaryDirectory(prefix="bento-context-") as tmp:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        version = _bento_version(Path(tmp))
        seconds = build(
            command,
            Path(tmp) / BENTO_DOCKERFILE,
            Path(tmp),
            [f"tweet-sentiment:{version}", *([IMAGES["bento"]] if latest else [])],
            base,
        )
    return seconds, version


def _bento_version(context: Path) -> str:
    for line in (context / "bento.yaml").read_text().splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    raise ImageError(f"{context}/bento.yaml names no version")


def build_images(names: list[str], store: str) -> dict[str, float]:
    command = engine()
    base = base_image(command)
    seconds: dict[str, float] = {}
    for name in names:
        if name == "bento":
            seconds[name], _ = build_bento(command, base, store)
        else:
            seconds[name] = build(command, DOCKERFILES[name], ROOT, [IMAGES[name]], base, GIT_COMMIT=git_commit())
    return seconds


def sizes(command: str | None = None) -> dict[str, int]:
    command = command or engine()
    return {name: image_size(command, ref) for name, ref in IMAGES.items() if image_exists(command, ref)}


def print_sizes(found: dict[str, int], seconds: dict[str, float] | None = None) -> None:
    for name, ref in IMAGES.items():
        size = f"{found[name] / 1e6:8.0f} MB" if name in found else "   (not built)"
        took = f"  built in {seconds[name]:.0f} s" if seconds and name in seconds else ""
        print(f"{ref:30s} {size}{took}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    build_parser = sub.add_parser("build", help="build and tag the images, then print their sizes")
    build_parser.add_argument("names", nargs="*", metavar="{training,airflow,bento}", help="default: all three")
    build_parser.add_argument("--store", default=os.environ.get("STORE", "artifacts"))
    sub.add_parser("base", help="make the Debian-made Python base image (podman)")
    sub.add_parser("sizes", help="print the sizes of the tagged images")
    args = parser.parse_args(argv)
    try:
        if args.verb == "base":
            print(build_base(engine()))
        elif args.verb == "sizes":
            print_sizes(sizes())
        else:
            unknown = sorted(set(args.names) - set(IMAGES))
            if unknown:
                raise ImageError(f"unknown image {', '.join(unknown)}: choose from {', '.join(IMAGES)}")
            seconds = build_images(args.names or list(IMAGES), args.store)
            print_sizes(sizes(), seconds)
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
