#!/bin/sh
# cmake --install puts the public headers, libchat.a and libchat.pc where a
# program can find them with pkg-config alone: install into a temporary
# prefix, build a small program against it, run it.
# Usage: install_smoke.sh BUILD_DIR CC [EXTRA_CFLAGS]
set -eu
build=$1
cc=$2
extra=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name libchat.pc | head -1)
[ -n "$pc" ] || { echo "libchat.pc was not installed"; exit 1; }
[ -f "$tmp/prefix/include/chat/chat.h" ] || { echo "headers were not installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"
cat > "$tmp/app.c" <<'C'
#include <stdio.h>
#include <chat/chat.h>

int main(void)
{
    chat_client *c;
    chat_client_config cfg = {0};
    if (chat_client_new(&c, &cfg) != CHAT_OK)
        return 1;
    if (chat_client_start(c, "alice", 0) != CHAT_OK)
        return 1;
    size_t n;
    const uint8_t *out = chat_client_out_peek(c, &n);
    /* HS1: 3-byte header + 32-byte ephemeral + 6-byte payload */
    int ok = out != NULL && n == 41 && out[2] == CHAT_FRAME_HS1;
    chat_client_free(c);
    printf("installed libchat %s: HS1 of %zu bytes\n", CHAT_LIB_VERSION, n);
    return ok ? 0 : 1;
}
C
# shellcheck disable=SC2046
"$cc" -std=c17 $extra -o "$tmp/app" "$tmp/app.c" $(pkg-config --cflags --libs --static libchat)
"$tmp/app"
