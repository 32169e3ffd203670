# Build, test and measure sniffer. Every target works on a fresh Debian machine with Go once
# scripts/setup.sh (or .ci/run) has installed libpcap and the test tools; the end-to-end tests and
# recording a capture need root.

GO       ?= go
FUZZTIME ?= 5m
TIMEOUT  ?= 30m

.PHONY: all build vet fmt test e2e bench goals live-bench mirror-bench collector-bench fuzz stress run setup clean dist

all: build

build:
	$(GO) build -o bin/sniffer .

vet:
	$(GO) vet ./...

# gofmt -l lists files that differ from gofmt's output; any is a failure.
fmt:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# Every test: unit tests with the race detector, the corpus, the capture and main packages again
# with -tags gofiles (the macOS binary's paths: files read in Go, ports kept in user space, no
# BPF compiler), go vet of the macOS build without cgo and of the Windows build (whose
# Linux-only tests, e2e and internal/workload, carry build tags), then the end-to-end tests in e2e/
# (which skip, saying why, unless run as root with the tools scripts/setup.sh installs). e2e runs
# alone, so that other packages' tests do not take the CPU from its live captures, and its own
# harness without -race (it parses about a gigabyte of NDJSON, ten times slower under the race
# detector); SNIFFER_E2E_RACE=1 still builds the sniffer of the live veth test with -race.
# Then e2e/container (podman builds the image and runs it and the compose demo; minutes the
# first time, while debootstrap makes its base images). Every run happens even when one fails.
# scripts/testsum runs each with -json, prints what go test prints without -v, and at the end lists
# every skipped test with its reason: a skip not in .ci/skips-allowed fails the target.
TESTSUM = bin/testsum -skips .cache/test/skips.jsonl

test: vet fmt
	@mkdir -p .cache/test && rm -f .cache/test/skips.jsonl && $(GO) build -o bin/testsum ./scripts/testsum
	@status=0; \
	$(TESTSUM) -- $(GO) test -json -race -count=1 -timeout $(TIMEOUT) $$($(GO) list ./... | grep -v -e '/e2e$$' -e '/e2e/container$$') || status=1; \
	$(TESTSUM) -- $(GO) test -json -tags gofiles -count=1 -timeout $(TIMEOUT) ./capture/ . || status=1; \
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) vet ./... || status=1; \
	GOOS=windows GOARCH=amd64 $(GO) vet ./... || status=1; \
	SNIFFER_E2E_RACE=1 $(TESTSUM) -- $(GO) test -json -count=1 -timeout $(TIMEOUT) ./e2e/ || status=1; \
	$(TESTSUM) -- $(GO) test -json -count=1 -timeout $(TIMEOUT) ./e2e/container/ || status=1; \
	$(TESTSUM) -allow .ci/skips-allowed -report || status=1; \
	exit $$status

# The end-to-end tests alone, verbose (their logs carry the figures they saw).
e2e:
	SNIFFER_E2E_RACE=1 $(GO) test -count=1 -v -timeout $(TIMEOUT) ./e2e/

# Go benchmarks of the hot paths, then scripts/goals.sh: offline (bench.sh), live (live-bench.sh,
# as root) and to a collector (collector-bench.sh), side by side with the anchors, ending in one
# table against the speed goals (captures recorded once and cached; BENCH_ARGS="8 32 8 16 5 16",
# the defaults, are the seconds and connections of each).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	scripts/goals.sh $(BENCH_ARGS)

# The speed goals' table alone, without the Go benchmarks.
goals: build
	scripts/goals.sh $(BENCH_ARGS)

# A live sniffer on the device during the load, against nginx's record (root).
live-bench: build
	scripts/live-bench.sh $(BENCH_ARGS)

# The proxy mirror listener alone under wrk: calls per CPU-second and peak RSS for three body
# sizes (BENCH_ARGS="SECONDS CONNECTIONS", default 20 64).
mirror-bench: build
	scripts/mirror-bench.sh $(BENCH_ARGS)

# The whole job to a loopback Resurface collector, sniffer side by side with Resurface's
# network-sniffer engine (../shared/anchors): right calls per CPU-second (BENCH_ARGS="8 16").
collector-bench: build
	scripts/collector-bench.sh $(BENCH_ARGS)

# Every Fuzz target in the repository, each for FUZZTIME.
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# The hostile-traffic stress cases at full size (100,000 SYNs, 1 GiB bodies, 10 GiB gzip
# bombs; a few minutes and about 5 GB of temporary files); make test runs smaller versions.
stress:
	STRESS=1 $(GO) test -count=1 -v -timeout $(TIMEOUT) ./stress/

# The main job: sniffer -r over a recorded workload (PCAP=file to read your own capture).
run: build
	scripts/run.sh $(PCAP)

setup:
	scripts/setup.sh

# Release binaries in dist/: Linux amd64 and arm64 with libpcap (cgo; arm64 needs
# gcc-aarch64-linux-gnu and libpcap0.8-dev:arm64, which scripts/setup.sh installs), Windows
# amd64 without cgo (gopacket loads npcap's wpcap.dll at run time), and macOS amd64 and arm64
# without cgo (capture/bpf_darwin.go reads /dev/bpf*, capture/gofile.go reads files in Go; no
# BPF_FILTER). Ends with the list of binaries and SHA256SUMS. VERSION defaults to git describe.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DIST_FLAGS = -trimpath -ldflags "-s -w -X main.version=$(VERSION)"
DIST_BINS = sniffer-linux-amd64 sniffer-linux-arm64 sniffer-windows-amd64.exe sniffer-darwin-amd64 sniffer-darwin-arm64

dist:
	@mkdir -p dist
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) build $(DIST_FLAGS) -o dist/sniffer-linux-amd64 .
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(GO) build $(DIST_FLAGS) -o dist/sniffer-linux-arm64 .
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build $(DIST_FLAGS) -o dist/sniffer-windows-amd64.exe .
	CGO_ENABLED=0 GOOS=darwin GOARCH=amd64 $(GO) build $(DIST_FLAGS) -o dist/sniffer-darwin-amd64 .
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) build $(DIST_FLAGS) -o dist/sniffer-darwin-arm64 .
	cd dist && sha256sum $(DIST_BINS) > SHA256SUMS && file $(DIST_BINS) && ls -l $(DIST_BINS) SHA256SUMS && cat SHA256SUMS

clean:
	rm -rf bin dist .cache
