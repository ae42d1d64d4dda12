#!/bin/sh
# Install the Debian packages the project needs to build and test, if any is
# missing. Needs root for apt-get (prints the command otherwise).
# systemd provides systemd-analyze (the unit hardening test), openssl the
# PEM key interoperability test, tmux the terminal UI tests, python3 the
# conformance checks of PROTOCOL.md §12 and docs/CONFORMANCE.md.
set -eu
pkgs="build-essential cmake pkg-config libsodium-dev libcmocka-dev libncurses-dev
      libsqlite3-dev clang libclang-rt-14-dev binutils
      systemd openssl tmux python3"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; run: apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
