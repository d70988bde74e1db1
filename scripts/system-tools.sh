#!/usr/bin/env bash
# The system tools the tests run for real: promtool (Debian package `prometheus`, which also
# brings the prometheus server the dashboard test scrapes with) and docker-compose (to
# validate docker-compose.yml). Installs them with apt-get when they are missing and this
# machine can (root, or passwordless sudo); otherwise says what to install. `make test` runs it.
set -euo pipefail
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus >/dev/null || [[ " ${missing[*]-} " == *" prometheus "* ]] || missing+=(prometheus)
command -v docker-compose >/dev/null || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo)
else
    echo "missing Debian packages for the tests: ${missing[*]} (apt-get install them)" >&2
    exit 0  # the tests that need them fail and say so
fi
if ! command -v apt-get >/dev/null; then
    echo "missing packages for the tests: ${missing[*]} (no apt-get here)" >&2
    exit 0
fi
echo "installing ${missing[*]} for the tests" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
