#!/bin/sh
# Starts Pushpin with livefeed's configuration: docker-compose.grip.yml runs it in the pushpin
# container, tests/pushpin.py runs it with Debian's pushpin. pushpin.conf cannot read the
# environment, so the running copy is written to RUN_DIR with sig_key set from
# LIVEFEED_GRIP_KEY (as base64: any character of the key is safe in the INI file).
#
#   start.sh [CONFIG_DIR (pushpin.conf and routes; /etc/livefeed-pushpin)] [RUN_DIR]
set -eu
: "${LIVEFEED_GRIP_KEY:?set LIVEFEED_GRIP_KEY (feed checks each request's Grip-Sig with it)}"
src=${1:-/etc/livefeed-pushpin}
run=${2:-/tmp/livefeed-pushpin}
mkdir -p "$run"
key=$(printf '%s' "$LIVEFEED_GRIP_KEY" | base64 | tr -d '\n')
umask 077
sed "s|^sig_key=.*|sig_key=base64:$key|" "$src/pushpin.conf" > "$run/pushpin.conf"
# The routes file stays the mounted one: Pushpin rereads it when it changes.
ln -sf "$src/routes" "$run/routes"
exec pushpin --merge-output --config="$run/pushpin.conf"
