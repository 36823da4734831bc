#!/usr/bin/env bash
# Installs what the network-namespace lab tests need (iproute2, nftables) when
# running as root on a Debian-like machine and they are missing. Without root
# it does nothing: the lab tests then skip loudly, saying why.
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
command -v apt-get >/dev/null || exit 0
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "lab-deps: installing ${missing[*]} for the network-namespace tests" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
