#!/usr/bin/env bash
# Installs what the network-namespace lab tests need (iproute2, nftables, and
# for the NAT lab coturn, miniupnpd, miniupnpc and conntrack, which flushes a
# router's NAT mappings in the resilience scenarios) when running as root on a
# Debian-like machine and they are missing. Without root it does nothing: the
# lab tests then skip loudly, saying why.
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
command -v apt-get >/dev/null || exit 0
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v ss >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v turnserver >/dev/null || missing+=(coturn)
command -v miniupnpd >/dev/null || missing+=(miniupnpd-nftables)
command -v upnpc >/dev/null || missing+=(miniupnpc)
command -v conntrack >/dev/null || missing+=(conntrack)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "lab-deps: installing ${missing[*]} for the network-namespace tests" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The lab starts its own coturn inside a namespace; never a system-wide one.
if command -v systemctl >/dev/null && systemctl is-enabled coturn >/dev/null 2>&1; then
  systemctl disable --now coturn >/dev/null 2>&1 || true
fi
