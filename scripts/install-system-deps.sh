#!/usr/bin/env bash
# System packages (Debian) the tests, benchmarks and image builds need; each is installed only when missing:
#   chromium                       headless screenshots of the report pages (tests)
#   wrk                            load generator of `make bench-serving`
#   podman buildah runc mmdebstrap  building and running the images with no Docker daemon (`make images`, image
#   uidmap slirp4netns             tests); podman's two required settings are in containers/containers.conf
#   fuse-overlayfs
set -euo pipefail
plain=() containers=()
need() {  # need LIST COMMAND PACKAGE
  command -v "$2" >/dev/null 2>&1 || eval "$1+=(\"\$3\")"
}
need plain chromium chromium
need plain wrk wrk
need containers podman podman
need containers buildah buildah
need containers runc runc
need containers mmdebstrap mmdebstrap
need containers newuidmap uidmap
need containers slirp4netns slirp4netns
need containers fuse-overlayfs fuse-overlayfs
if [ ${#plain[@]} -eq 0 ] && [ ${#containers[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing ${plain[*]} ${containers[*]} (apt)" >&2
$SUDO apt-get update -qq
install() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null; }
[ ${#plain[@]} -eq 0 ] || install --no-install-recommends "${plain[@]}"
# podman's recommended packages (container networking, conmon helpers) are part of what the image tests use.
[ ${#containers[@]} -eq 0 ] || install "${containers[@]}"
