# uptick: `make demo` and `make test` are the two set-up commands.
GO      ?= go
BIN     := bin/uptick
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# kustomize's Go-plugin loader (never used: uptick builds with builtins only)
# links the plugin package, which exports every symbol dynamically and adds
# tens of MB to every command's memory; this tag leaves it out.
TAGS    := kustomize_disable_go_plugin_support

# Command (or file) = Debian package, installed by hack/ensure-tools.sh when missing.
DEMO_TOOLS := git=git gpg=gnupg
TEST_TOOLS := $(DEMO_TOOLS) /usr/lib/git-core/git-http-backend=git docker-registry=docker-registry /usr/sbin/sshd=openssh-server \
	ssh-keygen=openssh-client strace=strace unshare=util-linux mount=mount /usr/bin/time=time etcd=etcd-server

.PHONY: all build demo test tools vet fmt-check tidy-check unit bench fuzz clean

all: build

build:
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/uptick

## demo: one real run against an in-process registry and a throwaway repo.
demo: build
	@hack/ensure-tools.sh $(DEMO_TOOLS)
	@hack/demo.sh $(BIN)

## test: vet, formatting and every test, installing the real parts tests need.
test: tools vet fmt-check tidy-check unit

## tools: Debian packages, then every hack/tools/*.sh build (cached per machine).
tools:
	@hack/ensure-tools.sh $(TEST_TOOLS)
	@set -e; for s in hack/tools/*.sh; do [ "$$s" = hack/tools/lib.sh ] || "$$s" >/dev/null; done

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy-check:
	@out=$$($(GO) mod tidy -diff) || { echo "go.mod/go.sum are not tidy (go mod tidy):"; echo "$$out"; exit 1; }

unit:
	$(GO) test -count=1 ./...

## bench: Go benchmarks (policy over 100,000 tags, a 5,000-tag listing from
## distribution v3, the peak memory of `uptick scan` over 50 images x 2,000
## tags, ...), then whole uptick processes against grep over generated
## fleets (internal/procbench: pairwise ratios, steady-state pass), and
## `uptick sync` against kubectl 1.34 (built here, for the bench only) on
## 1,000 objects.
BENCH_RUNS ?= 9
bench: tools
	@hack/tools/bench/kubectl.sh >/dev/null
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v /internal/procbench)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCH_RUNS)x ./internal/procbench

## fuzz: a short fuzzing pass over every fuzz target (FUZZTIME each).
FUZZTIME ?= 30s
FUZZ_TARGETS := update:FuzzRewrite update:FuzzRewritePerDocument update:FuzzLineStarts update:FuzzScanDocument update:FuzzPlainMarker update:FuzzHasScreen update:FuzzUnmarshalState policy:FuzzSemVerSelect cmd/uptick:FuzzParseConfig scan:FuzzParseDockerConfig \
	scan:FuzzRetryAfter scan:FuzzScrub scan:FuzzNextLink scan:FuzzParseChallenges scan:FuzzDecodePage \
	gitops:FuzzRedactURL gitops:FuzzClassifyURL gitops:FuzzRefFiles \
	gitops:FuzzParseForgeRemote gitops:FuzzParsePullRequestMarker \
	sync:FuzzBuildYAML sync:FuzzInventory
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}; \
	done

clean:
	rm -rf bin
