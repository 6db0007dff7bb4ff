#!/usr/bin/env bash
# Installs what building, testing, the demo and the benchmark need, and nothing that is
# already there: Debian packages (libevent-dev, pkg-config, redis-server, redis-tools,
# nutcracker, tcl and dpkg-dev for Redis's own test suite, systemd for `systemd-analyze verify` of
# the unit file, python3-pip) and the Python packages of the black-box suite (redis, pytest).
# Idempotent and non-interactive; uses sudo only when not root. A no-op on a ready machine.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf 'deps: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@" || sudo "$@"
    else
        log "need root to run: $*"
        return 1
    fi
}

# --- Debian packages -------------------------------------------------------------------------
packages=(libevent-dev pkg-config redis-server redis-tools nutcracker tcl dpkg-dev systemd)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done
# pip: only needed when the python3 on PATH has none of its own (pyenv and venvs bring theirs).
if ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3-pip)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "missing ${missing[*]} and no apt-get; install them by hand"
        exit 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
    # Debian starts the packaged redis-server as a service; Respite's tools start their own
    # on free ports, so the service is left as the package set it up.
else
    log "Debian packages present"
fi

# --- Python packages -------------------------------------------------------------------------
if [ -f tests/requirements.txt ]; then
    pip_args=(-r tests/requirements.txt)
else
    pip_args=(redis pytest)
fi

# True when every requirement (tests/requirements.txt, or redis and pytest) is installed.
# Presence only: versions are pip's business when it does install.
python_deps_present() {
    python3 - "$@" <<'PY'
import re, sys
from importlib import metadata
args = sys.argv[1:]
names = []
if args[:1] == ["-r"]:
    for line in open(args[1]):
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[\s\[<>=!~;@]", line, maxsplit=1)[0])
else:
    names = args
for name in names:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
PY
}

if python_deps_present "${pip_args[@]}"; then
    log "Python packages present"
    exit 0
fi
log "pip installing ${pip_args[*]}"
pip_flags=(--quiet --disable-pip-version-check)
if [ "$(id -u)" -ne 0 ] && [ -z "${VIRTUAL_ENV:-}" ]; then
    pip_flags+=(--user)
fi
# Debian's python refuses system-wide pip installs (PEP 668); retry with its override.
if ! python3 -m pip install "${pip_flags[@]}" "${pip_args[@]}"; then
    log "retrying with --break-system-packages"
    python3 -m pip install "${pip_flags[@]}" --break-system-packages "${pip_args[@]}"
fi
python_deps_present "${pip_args[@]}" || { log "Python packages still missing after pip install"; exit 1; }
