#!/usr/bin/env bash
# ensure-tools.sh PATH_OR_CMD=DEBIAN_PACKAGE ...
# Installs the Debian package for every command or file that is missing, so
# `make demo` and `make test` work on a fresh machine. Idempotent: present
# tools cost one lookup each and nothing is installed twice.
set -euo pipefail

missing=()
for spec in "$@"; do
	tool=${spec%%=*} pkg=${spec#*=}
	if [[ $tool == /* ]]; then
		[[ -e $tool ]] && continue
	else
		command -v "$tool" >/dev/null 2>&1 && continue
	fi
	missing+=("$pkg")
done
((${#missing[@]})) || exit 0

echo "ensure-tools: installing ${missing[*]}" >&2
sudo=
if [[ $(id -u) != 0 ]]; then
	command -v sudo >/dev/null || { echo "ensure-tools: need root or sudo to install ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
# Debian starts services a package ships (docker-registry) on install; tests
# start their own instances on loopback ports, so keep the package's off.
cleanup_rc=
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	cleanup_rc=1
fi
trap '[[ -n $cleanup_rc ]] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
	$sudo apt-get update >/dev/null
	$sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
