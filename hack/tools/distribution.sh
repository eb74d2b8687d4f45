#!/usr/bin/env bash
# Builds the distribution v3 registry from the Go module proxy, once per
# machine: unlike Debian's docker-registry 2.8, it paginates tag lists with
# "n", "last" and a Link header, which the scan stage's pagination tests
# and benchmarks need. Prints the directory holding the `registry` binary
# (internal/testserver.ToolPath(t, "distribution", VERSION, "registry")).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

VERSION=v3.0.0

build_distribution() {
	local out=$1
	# Outside any module, so the project's go.mod plays no part.
	(cd "$out" && GOBIN="$out" CGO_ENABLED=0 go install -trimpath \
		"github.com/distribution/distribution/v3/cmd/registry@$VERSION")
	test -x "$out/registry"
}

tool_build distribution "$VERSION" build_distribution
