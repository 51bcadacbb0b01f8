#!/usr/bin/env bash
# Build wheels of the third-party applications in tests/thirdparty/requirements.txt into
# a directory, checked against their pinned hashes. One pip call per line: several
# versions of one package cannot share a resolver run.
# Usage: scripts/fetch-thirdparty.sh PIP DIR
set -euo pipefail
pip="$1"
out="$2"
list="$(dirname "$0")/../tests/thirdparty/requirements.txt"
mkdir -p "$out"
one="$(mktemp)"
trap 'rm -f "$one"' EXIT
grep -v '^\s*\(#\|$\)' "$list" | while IFS= read -r line; do
    name_version="${line%% *}"
    wheel_name="$(echo "${name_version%%==*}" | tr '-' '_')-${name_version##*==}-"
    if compgen -G "$out/${wheel_name}*.whl" > /dev/null; then
        continue
    fi
    printf '%s\n' "$line" > "$one"
    "$pip" wheel --quiet --disable-pip-version-check --no-deps --require-hashes -r "$one" -w "$out"
done
