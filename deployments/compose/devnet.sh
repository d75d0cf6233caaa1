#!/bin/sh
# Compose service "devnet": runs `litsign devnet` (a local Lit network: a
# chain JSON-RPC endpoint and Lit nodes) and publishes its description JSON
# in $DEVNET_INFO for the daemons (with-devnet.sh reads it).
#
# litnode/devnet listens on 127.0.0.1 at random ports and has no option to
# listen elsewhere, so the daemons join this container's network namespace
# (network_mode: service:devnet) and reach it on loopback; they learn the
# ports from the description. deployments/README.md "Compose" explains.
set -eu
info="${DEVNET_INFO:-/var/lib/devnet/devnet.json}"
rm -f "$info" "$info.part"
litsign devnet "$@" >"$info.part" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
# The description is one indented JSON object; its last line is "}".
until grep -q '^}' "$info.part" 2>/dev/null; do
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid" || exit $?
		exit 1
	fi
	sleep 1
done
mv "$info.part" "$info"
echo "devnet: description in $info" >&2
wait "$pid"
