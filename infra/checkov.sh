#!/usr/bin/env bash
# Static security checks of infra/ with checkov, run from its own virtual environment.
#
#   bash infra/checkov.sh             install checkov if needed, then check infra/
#   bash infra/checkov.sh --install   only install (scripts/bootstrap.sh does this)
#
# .venv-checkov is kept apart from .venv: checkov pins packaging and boto3 versions the app's
# tools do not want. pip runs only when infra/requirements-checkov.txt changed (same stamp as
# scripts/bootstrap.sh). Checks that do not apply are skipped next to their resource, with the
# reason: `#checkov:skip=CKV_...:why`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV=.venv-checkov
REQUIREMENTS=infra/requirements-checkov.txt

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
    for candidate in python3.11 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            PYTHON="$candidate"
            break
        fi
    done
fi

want="$(cat "$REQUIREMENTS" | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
if [ ! -x "$VENV/bin/checkov" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    [ -n "$PYTHON" ] || { echo "checkov.sh: Python 3.11+ not found" >&2; exit 1; }
    echo "installing $REQUIREMENTS into $VENV" >&2
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    # Like Python 3.13's venv: keep git (and ruff, which honours .gitignore) out of it.
    echo '*' >"$VENV/.gitignore"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
    echo "$want" >"$stamp"
fi

if [ "${1:-}" = "--install" ]; then
    exit 0
fi

# Extra arguments replace the default output options (e.g. --output json for the tests).
if [ "$#" -eq 0 ]; then
    set -- --compact --quiet
fi
exec "$VENV/bin/checkov" --directory infra --framework terraform --skip-download "$@"
