#!/usr/bin/env bash
# kube.sh: builds kube-apiserver and kube-controller-manager for the sync
# tests, once per machine, into $(tools_dir)/kube-$KUBE_VERSION/ (see
# lib.sh). Prints that directory. Neither is packaged by Debian; both come
# from the Go module proxy through a wrapper module (kubernetes' own go.mod
# pins its staging modules at v0.0.0, so each is replaced by its release
# tag). Both binaries come out of one `go build`, which compiles the
# packages they share once and keeps both cores busy.
#
# Cold (empty module and build caches): about 6 minutes and 1.8 GB of
# memory on 2 cores; a second run costs one stat.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

KUBE_VERSION=${KUBE_VERSION:-v1.33.13}

# kube_wrapper_build OUT VERSION PKG...: builds the k8s.io/kubernetes
# commands PKG... at VERSION into OUT. Shared with bench/kubectl.sh.
kube_wrapper_build() (
	out=$1 version=$2
	shift 2
	staging=v0.${version#v1.}
	mod=$(mktemp -d)
	# The module cache is read-only to us: remove the wrapper (never the
	# cache) however this subshell ends.
	trap 'rm -rf "$mod"' EXIT
	export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
	gomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
	[[ -f $gomod ]] || { echo "kube.sh: no go.mod for k8s.io/kubernetes@$version from the module proxy" >&2; exit 1; }
	{
		echo "module uptick.invalid/kube-tools"
		echo
		echo "go 1.24"
		echo
		echo "require k8s.io/kubernetes $version"
		echo
		# Every staging module kubernetes requires at v0.0.0, at its tag.
		awk -v v="$staging" '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { printf "replace %s => %s %s\n", $1, $1, v }' "$gomod" | sort -u
	} >"$mod/go.mod"
	x=""
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		x+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$(echo "$version" | cut -d. -f2)"
		x+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	pkgs=()
	for p in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$p"); done
	cd "$mod"
	go build -trimpath -buildvcs=false -ldflags "-s -w$x" -o "$out/" "${pkgs[@]}"
)

build_kube() {
	kube_wrapper_build "$1" "$KUBE_VERSION" kube-apiserver kube-controller-manager
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	tool_build kube "$KUBE_VERSION" build_kube
fi
