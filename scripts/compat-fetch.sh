#!/usr/bin/env bash
# Fetches Redis's own TCL test suite for the redis-server installed here, from Debian's source
# package of that exact version, and unpacks it (Debian's patches applied) into the directory
# given as $1 (default: .build-compat/redis-src). Idempotent: a tree already unpacked for the
# installed version is kept.
#
# The machine's apt sources are never changed. A private apt directory gets `deb-src` twins of
# the machine's own `deb` entries (same URIs, suites, components and keys), derived at run time,
# so no mirror's address is written into the repository.
set -euo pipefail

dest=${1:-.build-compat/redis-src}
log() { printf 'compat-fetch: %s\n' "$*" >&2; }

version=$(dpkg-query -W -f='${Version}' redis-server 2>/dev/null || true)
[ -n "$version" ] || { log "redis-server is not installed (make deps)"; exit 1; }
if [ -f "$dest/.version" ] && [ "$(cat "$dest/.version")" = "$version" ] && [ -x "$dest/runtest" ]; then
    log "suite for redis $version already in $dest"
    exit 0
fi

for tool in dpkg-source tclsh; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        pkg=dpkg-dev; [ "$tool" = tclsh ] && pkg=tcl
        log "installing $pkg"
        sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "$pkg" >&2
    fi
done

apt_dir=$(mktemp -d)
trap 'rm -rf "$apt_dir"' EXIT
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"

# deb822 files: every stanza becomes a deb-src one (same URIs, suites, components, keys).
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed 's/^Types:.*/Types: deb-src/' "$f" > "$apt_dir/sources.list.d/$(basename "$f")"
done
# one-line files: `deb ...` lines become `deb-src ...`.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >> "$apt_dir/sources.list.d/derived.list"
done

apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/none.list"
    -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Get::List-Cleanup=0"
    -o "APT::Sandbox::User=root"
)
log "updating a private apt index of source packages"
apt-get "${apt_opts[@]}" update -qq >&2

work=$(mktemp -d)
trap 'rm -rf "$apt_dir" "$work"' EXIT
log "downloading Debian's source of redis $version"
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only -qq "redis=$version" >&2)
dsc=$(ls "$work"/*.dsc | head -1)
(cd "$work" && dpkg-source --no-check -x "$(basename "$dsc")" src >/dev/null)

rm -rf "$dest"
mkdir -p "$dest"
cp -a "$work/src/tests" "$work/src/runtest" "$dest/"
# The suite's helpers look for these next to tests/ even in external mode.
[ -d "$work/src/src" ] && mkdir -p "$dest/src" && cp -a "$work/src/src/redis-check-aof" "$dest/src/" 2>/dev/null || true
echo "$version" > "$dest/.version"
log "suite for redis $version unpacked in $dest"
