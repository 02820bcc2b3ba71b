# spectra-relay — see README.md for the quick start.
GO        ?= go
FUZZTIME  ?= 30s
ADDR      ?= 127.0.0.1
SUITES    ?= /tmp/suites
# Stamped into the binaries (spectra-server -version); the Dockerfile takes it as a build arg.
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# Every folder holding a package-lock.json for Node-based tests.
NODE_DIRS := $(patsubst %/package-lock.json,%,$(shell find . -path ./node_modules -prune -o -path '*/node_modules' -prune -o -name package-lock.json -print))

.PHONY: run test test-short vet cross-build node-deps fuzz bench bench-go bench-quick bench-goals bench-full conformance build docker clean

## run: the relay with local defaults (plain HTTP/WS, no auth key) on 5100/5200/5101, admin on 127.0.0.1:5102.
run:
	INSECURE=$${INSECURE:-true} REQUIRE_AUTH_KEY=$${REQUIRE_AUTH_KEY:-false} $(GO) run ./cmd/spectra-server

## build: every command into bin/, static, with the version from git describe.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

## docker: the relay's image, spectra-relay:VERSION (see Dockerfile, compose.yaml).
docker:
	docker build --build-arg VERSION=$(VERSION) -t spectra-relay:$(VERSION) .

## test: everything CI runs — vet, unit, race, interop with real socket.io-client, golden parity.
test: test-deps node-deps vet cross-build
	$(GO) test -race -count=1 -timeout 12m ./...
	@# Allocation counts mean nothing under -race (sync.Pool drops items there), so the
	@# allocation check that skips under it runs once more without it.
	$(GO) test -count=1 -run 'TestReadMessageAllocs$$' ./engineio

## test-short: the quick loop — vet and go test -short without -race; skips the golden parity, the
## walk-through, the Node interop and the big round-trips (make test runs those). About 1–2 min.
test-short: vet
	$(GO) test -short -count=1 -timeout 5m ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)

## cross-build: build and vet (tests included) the server's packages for Windows and macOS, so that
## Linux-only code (raw write(2), io_uring, epoll) stays behind _linux.go files and build tags. No
## network once vet has fetched the modules (the module graph is the same for every GOOS). About 10 s
## with a warm build cache; the first run compiles the standard library for both (a few minutes on 2 cores).
CROSS_OS   ?= windows darwin
CROSS_PKGS := ./cmd/... ./engineio/... ./socketio/... ./relay/...
cross-build:
	@for os in $(CROSS_OS); do \
		echo "GOOS=$$os: go build, go vet"; \
		GOOS=$$os $(GO) build $(CROSS_PKGS) && GOOS=$$os $(GO) vet $(CROSS_PKGS) || exit 1; \
	done

## test-deps: tools the tests need beyond Go and Node (headless Chromium for the status page test,
## redis-server for the cluster tests, openssl for the TLS KeyUpdate test, strace for the seccomp profile test), from Debian's packages as root or through sudo (one installer,
## scripts/ensure-apt-package.sh); fails saying what to install where it cannot.
.PHONY: test-deps
test-deps:
	@sh scripts/ensure-chromium.sh
	@sh scripts/ensure-redis.sh
	@sh scripts/ensure-openssl.sh
	@sh scripts/ensure-strace.sh

## node-deps: install the npm packages of the interop tests from their lockfiles.
node-deps:
	@for d in $(NODE_DIRS); do \
		if [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
			echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
		fi; \
	done

## fuzz: every fuzz target for FUZZTIME each, FUZZJOBS at a time (default 1), one summary
## line per target. A failing input lands in <pkg>/testdata/fuzz/<target>/: commit it, every
## `go test` then runs it.
FUZZJOBS ?= 1
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZJOBS=$(FUZZJOBS) fuzz/run.sh

## bench-go: in-process benchmarks of the hot paths.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Load benchmarks on replayed traffic: spectra-server beside the floor server
# (bench/floor, the least work a relay must do) and the Node socket.io baseline.
# Reports go to bench/out/<date>-<host>.{md,json,svg} (untracked); add
# BENCH_FLAGS=-update-results to write bench/results/ instead.
# BENCH_FLAGS adds or overrides spectra-bench flags (go run ./bench/cmd/spectra-bench -h).
BENCH_FLAGS ?=
# CPUs for bench-quick and bench: the server on one core, the load generator on another.
BENCH_SERVER_CPUS  ?= 0
BENCH_HARNESS_CPUS ?= 1

## bench-quick: plain spectra-server, TLS (INSECURE=false), write(2) (URING=false), floor and floor+ side by side,
## pinned (server CPU 0, harness CPU 1): one step, a connect storm of 10 × 2 000 overlays and then its broadcast
## window, 3 runs each with median and range (15 step runs: 2 min 57 s measured on the 2-core dev VM, about 15 s
## more since each window's end waits 1 s for the last sends; -runs 3 is the default, so nothing is cut to fit).
BENCH_QUICK_SERVERS ?= go,go+INSECURE=false,go+URING=false,floor,floor+
bench-quick:
	$(GO) run ./bench/cmd/spectra-bench -servers $(BENCH_QUICK_SERVERS) -server-cpus $(BENCH_SERVER_CPUS) -harness-cpus $(BENCH_HARNESS_CPUS) \
		-steps storm:10x2000 -duration 8s -runs 3 $(BENCH_FLAGS)

## bench-goals: issue 22's goals side by side: go, go+INSECURE=false (TLS), go+URING=false (write(2)), go+URING=aio (the
## container fallback where seccomp refuses io_uring), floor and floor+, pinned (server CPU 0, harness CPU 1), at the goal
## steps 10x2000, 50x5000 and storm:50x10000, 3 runs each, 20 s windows; the report's "Goals of issue 22" gives each goal
## per step with both figures, their ratio and met/missed. Estimated 27 min on the 2-core dev VM (printed at start, from bench-quick's measured 2 min 57 s; a line per step run shows the
## pace), at most 40 min.
BENCH_GOALS_STEPS ?= 10x2000,50x5000,storm:50x10000
BENCH_GOALS_SERVERS ?= go,go+INSECURE=false,go+URING=false,go+URING=aio,floor,floor+
bench-goals:
	$(GO) run ./bench/cmd/spectra-bench -servers $(BENCH_GOALS_SERVERS) -server-cpus $(BENCH_SERVER_CPUS) -harness-cpus $(BENCH_HARNESS_CPUS) \
		-steps $(BENCH_GOALS_STEPS) -duration 20s -runs 3 -ramp 500 $(BENCH_FLAGS)

# Steps of the full suite: 1, 10 and 50 matches × 1 000 to 10 000 overlays, and a connect storm of
# 10 000 overlays over 50 matches.
BENCH_STEPS ?= 1x1000,1x2000,1x5000,1x10000,10x1000,10x2000,10x5000,10x10000,50x1000,50x2000,50x5000,50x10000,storm:50x10000

## bench: the full suite, server pinned (CPU 0, harness CPU 1): BENCH_STEPS with spectra-server, floor, floor+ and Node,
## each go step again unpinned, and the capacity of go and floor at 10 and 50 matches, every step and capacity probe run
## 3 times (-runs), 20 s windows as the committed results. Before issue 22 (one run each, no floor+) it took 60–80 minutes; 3 runs of 5 servers make it about
## 3.5× that (not yet measured). BENCH_SERVERS adds variants, e.g. go+INSECURE=false,go+URING=false.
BENCH_SERVERS ?= go,floor,floor+,node
bench: node-deps
	$(GO) run ./bench/cmd/spectra-bench -servers $(BENCH_SERVERS) -server-cpus $(BENCH_SERVER_CPUS) -harness-cpus $(BENCH_HARNESS_CPUS) \
		-steps $(BENCH_STEPS) -unpinned-too -capacity 10,50 -capacity-probes 8 -duration 20s -ramp 500 $(BENCH_FLAGS)

bench-full: bench

## conformance: the official protocol suites (fetched separately into SUITES) against cmd/conformance, over http/ws and over https/wss.
conformance:
	@test -d $(SUITES)/engine.io-protocol/test-suite || (echo "put the test-suite folders of socketio/engine.io-protocol and socketio/socket.io-protocol under $(SUITES)/<repo>/test-suite"; exit 2)
	$(GO) build -o bin/conformance ./cmd/conformance
	scripts/conformance.sh $(SUITES) bin/conformance

clean:
	rm -rf bin
