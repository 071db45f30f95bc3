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
# Then the console's npm assets (npm ci) and Debian's chromium for the browser tests (as root).
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

# ---- Debian packages: PDF rendering (remittance advice) and its tests -----------------------------
# weasyprint needs Pango; DejaVu covers the Latin scripts, Noto CJK the Japanese advice. poppler-utils
# (pdftotext, pdftoppm) and gnumeric (ssconvert: a real spreadsheet's CSV import) are for the tests.
DEBIAN_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu fonts-noto-cjk poppler-utils gnumeric)
missing_debs=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_debs+=("$pkg")
done
if [ "${#missing_debs[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        fail "missing Debian packages: ${missing_debs[*]}. Run as root, or: sudo apt-get install -y --no-install-recommends ${missing_debs[*]}"
    fi
    echo "installing Debian packages: ${missing_debs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >/dev/null ||
        fail "apt-get install ${missing_debs[*]} failed"
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

# ---- node tools (package.json + package-lock.json): Prism, which validates the local stack's
# Adyen traffic against Adyen's OpenAPI. npm ci runs only when the lockfile changed.
command -v npm >/dev/null 2>&1 || fail "npm not found: the local stack's Prism needs Node.js 18+ (apt-get install nodejs npm)"
node_stamp="node_modules/.lock.sha256"
node_want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -x node_modules/.bin/prism ] && [ -f "$node_stamp" ] && [ "$(cat "$node_stamp")" = "$node_want" ]; then
    echo "node_modules is up to date"
else
    echo "installing node tools (npm ci)"
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
    echo "$node_want" >"$node_stamp"
fi

# ---- the console: front-end assets from npm, and a real browser for its tests ------------------

# The CSS the console serves (shared/entrypoints/console/package.json, its lockfile), installed
# with npm ci when the lockfile changed and copied into the console's static folder. Nothing is
# loaded from a CDN at run time.
CONSOLE_DIR=shared/entrypoints/console
command -v npm >/dev/null 2>&1 || fail "npm not found: the console's CSS comes from npm (apt-get install nodejs npm)"
console_want="$(sha256sum "$CONSOLE_DIR/package-lock.json" | cut -d' ' -f1)"
console_stamp="$CONSOLE_DIR/node_modules/.package-lock.sha256"
if [ ! -f "$console_stamp" ] || [ "$(cat "$console_stamp")" != "$console_want" ]; then
    echo "installing the console's npm packages (npm ci)"
    (cd "$CONSOLE_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    echo "$console_want" >"$console_stamp"
fi
mkdir -p "$CONSOLE_DIR/static/vendor"
cp -p "$CONSOLE_DIR/node_modules/@picocss/pico/css/pico.min.css" "$CONSOLE_DIR/static/vendor/pico.min.css"
cp -p "$CONSOLE_DIR/node_modules/@picocss/pico/LICENSE.md" "$CONSOLE_DIR/static/vendor/pico.LICENSE.md"

# Headless Chromium from Debian for the browser tests (tests/browser): Playwright drives it
# and never downloads a browser of its own.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's chromium (the console's browser tests)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        fail "chromium not found: the console's browser tests need Debian's chromium; as root run apt-get install -y chromium (or run this script as root)"
    fi
fi

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
