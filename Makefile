# Build, test and measure sniffer. Every target works on a fresh Debian machine with Go once
# scripts/setup.sh (or .ci/run) has installed libpcap and the test tools; the end-to-end tests and
# recording a capture need root.

GO       ?= go
FUZZTIME ?= 5m
TIMEOUT  ?= 30m

.PHONY: all build vet fmt test e2e bench live-bench fuzz stress run setup clean

all: build

build:
	$(GO) build -o bin/sniffer .

vet:
	$(GO) vet ./...

# gofmt -l lists files that differ from gofmt's output; any is a failure.
fmt:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# Every test: unit tests with the race detector, the corpus, then the end-to-end tests in e2e/
# (which skip, saying why, unless run as root with the tools scripts/setup.sh installs). e2e runs
# alone, so that other packages' tests do not take the CPU from its live captures, and its own
# harness without -race (it parses about a gigabyte of NDJSON, ten times slower under the race
# detector); SNIFFER_E2E_RACE=1 still builds the sniffer of the live veth test with -race.
# Both runs happen even when the first fails, as with a single go test ./...
test: vet fmt
	@status=0; \
	$(GO) test -race -count=1 -timeout $(TIMEOUT) $$($(GO) list ./... | grep -v '/e2e$$') || status=1; \
	SNIFFER_E2E_RACE=1 $(GO) test -count=1 -timeout $(TIMEOUT) ./e2e/ || status=1; \
	exit $$status

# The end-to-end tests alone, verbose (their logs carry the figures they saw).
e2e:
	SNIFFER_E2E_RACE=1 $(GO) test -count=1 -v -timeout $(TIMEOUT) ./e2e/

# Go benchmarks of the hot paths, then sniffer over a 30 s, 64-connection capture
# (recorded once and cached; BENCH_ARGS="5 16" for a smaller one).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	scripts/bench.sh $(BENCH_ARGS)

# A live sniffer on the device during the load, against nginx's record (root).
live-bench: build
	scripts/live-bench.sh $(BENCH_ARGS)

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

clean:
	rm -rf bin .cache
