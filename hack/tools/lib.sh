#!/usr/bin/env bash
# Shared by hack/tools/*.sh: where built test tools are cached and how a
# build is made safe to run twice at once. Source it; do not run it.
#
# Binaries that Debian does not package (Gitea, kube-apiserver, the
# distribution v3 registry, kubectl 1.34) are built from the Go module proxy
# once per machine into
#   $UPTICK_TOOLS_DIR/<name>-<version>/<binary>
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/uptick-tools), the same path
# internal/testserver.ToolPath computes. A build writes into a temporary
# directory and renames it into place, so a killed build never leaves a
# half-written binary that later runs would trust.
set -euo pipefail

tools_dir() {
	echo "${UPTICK_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uptick-tools}"
}

# tool_build NAME VERSION FUNC: unless DIR=$(tools_dir)/NAME-VERSION exists,
# run FUNC OUT (OUT a fresh temporary directory beside DIR) under a lock, then
# rename OUT to DIR. Prints DIR.
tool_build() {
	local name=$1 version=$2 fn=$3
	local root dir
	root=$(tools_dir)
	dir=$root/$name-$version
	mkdir -p "$root"
	if [[ -d $dir ]]; then
		echo "$dir"
		return 0
	fi
	exec {lockfd}>"$root/.$name-$version.lock"
	flock "$lockfd"
	if [[ ! -d $dir ]]; then
		local out
		out=$(mktemp -d "$root/.$name-$version.XXXXXX")
		echo "tools: building $name $version (once per machine) ..." >&2
		local start=$SECONDS
		if ! "$fn" "$out" >&2; then
			rm -rf "$out"
			echo "tools: building $name $version failed" >&2
			return 1
		fi
		mv -T "$out" "$dir"
		echo "tools: built $name $version in $((SECONDS - start))s" >&2
	fi
	flock -u "$lockfd"
	echo "$dir"
}
