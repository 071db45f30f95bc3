#!/usr/bin/env bash
# Set up the local development environment. Idempotent: re-run it whenever you like.
#
#   .venv/        the app and its tooling (requirements-dev.txt, which includes requirements.txt)
#   .venv-tasks/  the Cloud Tasks emulator (requirements-tasks-emulator.txt); kept apart because
#                 gcloud-tasks-emulator pins a protobuf the app cannot use
#   the project, editable in .venv, for its console scripts (.venv/bin/payouts-ops)
#
# pip runs only when a requirements file changed since the last install (hash in .venv*/.requirements.sha256).
# Checks the prerequisites first: Python 3.11+, Java 17+, gcloud and its Firestore and Pub/Sub emulators.
set -euo pipefail

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    printf 'usage: bash scripts/bootstrap.sh [--help]\n\n'
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
    exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

fail() {
    echo "bootstrap: $*" >&2
    exit 1
}

# ---- prerequisites -------------------------------------------------------------------------------

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            PYTHON="$candidate"
            break
        fi
    done
fi
[ -n "$PYTHON" ] || fail "Python 3.11+ not found (the Cloud Functions runtime is python311): apt-get install python3.11 python3.11-venv, or set PYTHON=/path/to/python3.11"

command -v java >/dev/null 2>&1 || fail "java not found: the emulators need Java 17+ (apt-get install openjdk-17-jre-headless)"
java_version="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
java_major="${java_version%%.*}"
if ! [[ "$java_major" =~ ^[0-9]+$ ]] || [ "$java_major" -lt 17 ]; then
    fail "Java 17+ needed, found '${java_version:-unknown}' (apt-get install openjdk-17-jre-headless)"
fi

command -v gcloud >/dev/null 2>&1 || fail "gcloud not found: install the Google Cloud SDK (apt-get install google-cloud-cli)"
sdk_root="$(cd "$(dirname "$(readlink -f "$(command -v gcloud)")")/.." && pwd)"
[ -d "$sdk_root/platform" ] || sdk_root="$(gcloud info --format='value(installation.sdk_root)')"
missing=()
compgen -G "$sdk_root/platform/cloud-firestore-emulator/*.jar" >/dev/null ||
    missing+=("cloud-firestore-emulator (gcloud components install cloud-firestore-emulator, or apt-get install google-cloud-cli-firestore-emulator)")
compgen -G "$sdk_root/platform/pubsub-emulator/lib/*.jar" >/dev/null ||
    missing+=("pubsub-emulator (gcloud components install pubsub-emulator, or apt-get install google-cloud-cli-pubsub-emulator)")
[ -d "$sdk_root/lib/surface/beta" ] || missing+=("beta (gcloud components install beta)")
if [ "${#missing[@]}" -gt 0 ]; then
    printf 'bootstrap: missing gcloud components under %s:\n' "$sdk_root" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi

# ---- virtual environments ------------------------------------------------------------------------

# install_venv DIR REQUIREMENTS HASHED_FILES...
install_venv() {
    local dir="$1" requirements="$2"
    shift 2
    local stamp="$dir/.requirements.sha256" want
    want="$(cat "$@" | sha256sum | cut -d' ' -f1)"
    if [ ! -x "$dir/bin/python" ]; then
        echo "creating $dir with $PYTHON"
        "$PYTHON" -m venv "$dir"
    fi
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "$dir is up to date"
        return
    fi
    echo "installing $requirements into $dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" >"$stamp"
}

install_venv .venv requirements-dev.txt requirements.txt requirements-dev.txt
install_venv .venv-tasks requirements-tasks-emulator.txt requirements-tasks-emulator.txt
.venv-tasks/bin/python -c 'import gcloud_tasks_emulator.server' 2>/dev/null ||
    fail ".venv-tasks cannot import gcloud_tasks_emulator: delete .venv-tasks and re-run"
# checkov (infra checks) in its own .venv-checkov: its pins clash with the app's tools
bash infra/checkov.sh --install

# The project itself, editable, for its console scripts (.venv/bin/payouts-ops); again only when
# pyproject.toml changed.
project_stamp=.venv/.project.sha256
project_want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -x .venv/bin/payouts-ops ] && [ -f "$project_stamp" ] && [ "$(cat "$project_stamp")" = "$project_want" ]; then
    echo ".venv/bin/payouts-ops is up to date"
else
    echo "installing the project (editable) into .venv: payouts-ops"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
    echo "$project_want" >"$project_stamp"
fi

echo "ready. Start the local stack with: .venv/bin/python -m local_stack.stack up"
