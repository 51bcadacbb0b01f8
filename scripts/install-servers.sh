#!/bin/sh
# Install the real servers some tests run on loopback (nginx, prometheus, alertmanager),
# the browser the dashboard's tests drive (chromium) and the load generator the load
# gate and the benchmarks use (wrk) when missing.
#
# Idempotent and quiet: does nothing when every binary exists; otherwise installs only
# the missing Debian packages (no recommends), running `apt-get update` first. Needs
# root or passwordless sudo, and apt-get (Debian, Ubuntu). The packages' own services
# are left as Debian sets them up: the tests run their own processes on free loopback
# ports with their own configuration files, and never touch /etc.
set -eu

missing=""
have() {
    # /usr/sbin is not on every user's PATH, so look there too.
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]
}
have nginx || missing="$missing nginx"
have prometheus || missing="$missing prometheus"
have prometheus-alertmanager || missing="$missing prometheus-alertmanager"
# Debian's Chromium: the dashboard's browser tests drive it through Playwright (PyPI).
have chromium || missing="$missing chromium"
have wrk || missing="$missing wrk"
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-servers: missing:$missing; install them with your package manager" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
else
    echo "install-servers: missing:$missing; run this script as root (or with sudo)" >&2
    exit 1
fi

echo "install-servers: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# shellcheck disable=SC2086  # $missing is a list of package names
if ! { $as_root apt-get update -qq \
    && $as_root apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-servers: installing$missing failed" >&2
    exit 1
fi
