#!/bin/sh
# Install the load generator the benchmarks use (wrk, from Debian) when missing.
#
# Same pattern as install-servers.sh: idempotent, quiet, only the missing package,
# no recommends, `apt-get update` first; needs root or passwordless sudo and apt-get.
# unleash-server itself comes from npm when bench/unleash_compare runs (outside the repo).
set -eu

command -v wrk >/dev/null 2>&1 && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-bench-tools: wrk is missing; install it with your package manager" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
else
    echo "install-bench-tools: wrk is missing; run this script as root (or with sudo)" >&2
    exit 1
fi

echo "install-bench-tools: installing wrk" >&2
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $as_root apt-get update -qq \
    && $as_root apt-get install -y -qq --no-install-recommends wrk; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-bench-tools: installing wrk failed" >&2
    exit 1
fi
