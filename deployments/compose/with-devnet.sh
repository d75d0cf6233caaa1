#!/bin/sh
# Entrypoint of the compose daemons (litsignd-1, litsignd-2): waits for the
# devnet's description (devnet.sh), points litsignd at the devnet through
# its --network custom flags (as environment fallbacks, so the command line
# still wins), and execs litsignd with the service's command.
set -eu
info="${DEVNET_INFO:-/var/lib/devnet/devnet.json}"
waited=0
until [ -s "$info" ]; do
	if [ "$waited" -ge "${DEVNET_WAIT_SECONDS:-120}" ]; then
		echo "with-devnet: no devnet description in $info after ${waited}s" >&2
		exit 1
	fi
	sleep 1
	waited=$((waited + 1))
done
# field NAME prints the first "NAME": value of the (indented, one field per
# line) description, without quotes.
field() {
	sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}[[:space:]]*$/\1/p" "$info" | head -n 1
}
LITSIGND_NETWORK=custom
LITSIGND_RPC_URL=$(field rpcUrl)
LITSIGND_CHAIN_ID=$(field chainId)
LITSIGND_STAKING_ADDRESS=$(field stakingAddress)
LITSIGND_PRICE_FEED_ADDRESS=$(field priceFeedAddress)
LITSIGND_LIT_HTTP_PROTOCOL=http://
for v in "$LITSIGND_RPC_URL" "$LITSIGND_CHAIN_ID" "$LITSIGND_STAKING_ADDRESS" "$LITSIGND_PRICE_FEED_ADDRESS"; do
	if [ -z "$v" ]; then
		echo "with-devnet: $info lacks rpcUrl, chainId, stakingAddress or priceFeedAddress" >&2
		exit 1
	fi
done
export LITSIGND_NETWORK LITSIGND_RPC_URL LITSIGND_CHAIN_ID LITSIGND_STAKING_ADDRESS LITSIGND_PRICE_FEED_ADDRESS LITSIGND_LIT_HTTP_PROTOCOL
exec litsignd "$@"
