#!/bin/sh
# The main job: installs missing Debian packages, builds, and runs a full
# in-memory client/server session with libchat, narrating what happens.
# (When chatd and chatc exist, this starts the server and connects to it.)
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
exec build/release/libchat/chat-selfcheck "$@"
