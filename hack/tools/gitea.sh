#!/usr/bin/env bash
# Builds Gitea from the Go module proxy for the pull-request tests
# (internal/testserver.Gitea): Debian packages no Gitea, Forgejo or Gogs.
# Cached once per machine in $(tools_dir)/gitea-$GITEA_VERSION/:
#   gitea                       the binary (sqlite built in)
#   templates/ options/ public/ what a non-bindata build reads at run time
#                               (the server's STATIC_ROOT_PATH points here)
# About 4 minutes on 2 cores from cold caches; a no-op once built.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# 1.26.0 is the newest release whose dependencies the module proxy serves.
GITEA_VERSION=${GITEA_VERSION:-v1.26.0}

build_gitea() {
	local out=$1 src
	# The module cache is read-only and go build writes into the module
	# directory's vendor state; build from a private copy.
	# Outside any module (the caller's go.mod must not be consulted or changed).
	src=$(cd "$out" && GOWORK=off GOFLAGS= go mod download -json "code.gitea.io/gitea@$GITEA_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $src && -d $src ]] || { echo "gitea: go mod download gave no directory" >&2; return 1; }
	local work
	work=$(mktemp -d "$out/.src.XXXXXX")
	cp -R "$src/." "$work"
	chmod -R u+w "$work"
	# Without these tags the binary starts but cannot open an SQLite database.
	(cd "$work" && CGO_ENABLED=1 GOFLAGS=-buildvcs=false go build -trimpath \
		-tags 'sqlite sqlite_unlock_notify' \
		-ldflags "-s -w -X main.Version=${GITEA_VERSION#v} -X 'main.Tags=sqlite sqlite_unlock_notify'" \
		-o "$out/gitea" .)
	local d
	for d in templates options public; do
		cp -R "$work/$d" "$out/$d"
	done
	rm -rf "$work"
}

tool_build gitea "$GITEA_VERSION" build_gitea
