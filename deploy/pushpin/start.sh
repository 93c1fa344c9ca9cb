#!/bin/sh
# Starts Pushpin with livefeed's configuration (docker-compose.grip.yml). pushpin.conf cannot
# read the environment, so the running copy is written here with sig_key set from
# LIVEFEED_GRIP_KEY (as base64, so any character of the key is safe in the INI file).
set -eu
: "${LIVEFEED_GRIP_KEY:?set LIVEFEED_GRIP_KEY (the key feed checks Grip-Sig with)}"
src=/etc/livefeed-pushpin
run=/tmp/livefeed-pushpin
mkdir -p "$run"
key=$(printf '%s' "$LIVEFEED_GRIP_KEY" | base64 | tr -d '\n')
sed "s|^sig_key=.*|sig_key=base64:$key|" "$src/pushpin.conf" > "$run/pushpin.conf"
chmod 600 "$run/pushpin.conf"
# The routes file stays the mounted one (Pushpin rereads it when it changes).
ln -sf "$src/routes" "$run/routes"
exec pushpin --merge-output --config="$run/pushpin.conf"
