#!/usr/bin/env bash
# bench/kubectl.sh: builds kubectl $KUBECTL_VERSION from the Go module
# proxy (the same wrapper-module recipe as ../kube.sh), once per machine,
# into $(tools_dir)/kubectl-$KUBECTL_VERSION/kubectl, and prints that
# directory. Only `make bench` runs it: kubectl is the peer the sync
# benchmark compares against, not a test tool, so `make tools` (whose loop
# takes hack/tools/*.sh only) does not build it.
#
# 1.34 is the fair peer: kubectl 1.32 (what some machines have on PATH) decodes
# the server's OpenAPI document once per applied object (kubernetes#127095).
set -euo pipefail
# shellcheck source=../kube.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../kube.sh"

KUBECTL_VERSION=${KUBECTL_VERSION:-v1.34.4}

build_kubectl() {
	kube_wrapper_build "$1" "$KUBECTL_VERSION" kubectl
}

tool_build kubectl "$KUBECTL_VERSION" build_kubectl
