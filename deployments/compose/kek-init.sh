#!/bin/sh
# Compose service "kek-init": creates the DEV key-encryption key that both
# compose daemons share, once (kept in the litsignd-kek volume). The format
# is litsignd's KEK file: "<id>:<64 hex digits>", current key first.
# Production keys come from your secret store instead (README "KEK").
set -eu
kek="${KEK_FILE:-/var/lib/litsignd-kek/kek}"
if [ -s "$kek" ]; then
	echo "kek-init: $kek exists" >&2
	exit 0
fi
umask 077
key=$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
printf 'dev-%s:%s\n' "$(date -u +%Y%m%d%H%M%S)" "$key" >"$kek.tmp"
mv "$kek.tmp" "$kek"
echo "kek-init: created $kek" >&2
