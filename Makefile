# The Makefile finds the modules itself: every folder with a go.mod, also a
# nested one such as flexkafka/internal/kafkatest (flexkafka's kfake tests).
# Each target has a per-module form: `make test/flexhttp`, `make lint/flex`.

MODULES     := $(patsubst %/go.mod,%,$(wildcard */go.mod */*/go.mod */*/*/go.mod))
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0
COVERAGE    := coverage
GO_FLOOR    := 1.25
RELEASECHECK := cd tools && GOWORK=off go run ./cmd/releasecheck -go $(GO_FLOOR) -repo ..
BENCHTIME   ?= 1x

# Minimum statement coverage per module, enforced by `make test`.
COVER_MIN_flex        := 90
COVER_MIN_flexhttp    := 85
COVER_MIN_flexmetrics := 85
COVER_MIN_flexkafka   := 20
COVER_MIN_flexkafka/internal/kafkatest := 80
COVER_MIN_flexcron    := 85
COVER_MIN_examples    := 0
COVER_MIN_tools       := 70

# What a module's coverage counts: its own packages, except for a test-only
# module, which counts the packages it tests.
COVERPKG_flexkafka/internal/kafkatest := github.com/go-flexible/flexible/flexkafka/...

.PHONY: all ci test lint tidy bench fuzz vuln deps-check run chaos compare check-clean tag release release-check api-check $(MODULES)

all: test lint deps-check

## ci: everything CI checks, ending with a clean work tree
ci: test lint deps-check release-check api-check check-clean

## test: race tests of every module, as users build it (GOWORK=off), with coverage
test: $(addprefix test/,$(MODULES))

test/%:
	@mkdir -p $(COVERAGE)
	cd $* && GOWORK=off go test -race -count=1 -coverpkg=$(or $(COVERPKG_$*),./...) -coverprofile=$(CURDIR)/$(COVERAGE)/$(subst /,.,$*).out ./...
	@.ci/coverage $(COVERAGE)/$(subst /,.,$*).out $* $(or $(COVER_MIN_$*),0)

## lint: gofmt, go vet (workspace and GOWORK=off) and staticcheck on every module
lint: $(addprefix lint/,$(MODULES))

lint/%:
	@test -z "$$(gofmt -l $*)" || { echo "gofmt would change:"; gofmt -l $*; exit 1; }
	cd $* && go vet ./... && GOWORK=off go vet ./...
	cd $* && go run $(STATICCHECK) ./...

## tidy: go mod tidy in every module, as users resolve it (no go work sync: it
## would push the versions that examples need into the libraries' go.mod)
tidy: $(addprefix tidy/,$(MODULES))

tidy/%:
	cd $* && GOWORK=off go mod tidy

## bench: every benchmark once through (BENCHTIME=2s for figures worth comparing)
bench: $(addprefix bench/,$(MODULES))

bench/%:
	cd $* && go test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## fuzz: every fuzz target for FUZZTIME (10s) each, one at a time (make test runs their seeds only)
FUZZTIME ?= 10s
fuzz:
	.ci/fuzz $(FUZZTIME) $(MODULES)

fuzz/%:
	.ci/fuzz $(FUZZTIME) $*

## bench-orders: the order system against its database's limit, side by side in one run (SQLite, and PostgreSQL when DATABASE_URL is set; BENCH_ORDERS_FLAGS="-d 30s -rounds 2")
bench-orders:
	cd examples && go run ./orders/bench $(BENCH_ORDERS_FLAGS)

## vuln: govulncheck on every module; one line says so when vuln.go.dev cannot be reached (see .ci/vuln)
vuln:
	.ci/vuln $(GOVULNCHECK) $(MODULES)

vuln/%:
	.ci/vuln $(GOVULNCHECK) $*

## deps-check: the core module must require no module at all
deps-check:
	@n=$$(cd flex && GOWORK=off go list -m all | wc -l); \
	if [ "$$n" -ne 1 ]; then echo "flex requires other modules:"; (cd flex && GOWORK=off go list -m all); exit 1; fi; \
	echo "flex: standard library only"

## chaos: the order system's chaos suite (CHAOS_FLAGS=-short: a few minutes, as CI runs it)
chaos:
	cd examples && GOWORK=off go run ./orders/chaos $(CHAOS_FLAGS)

## compare: what a rolling deploy costs six ways of stopping a Go service, behind HAProxy (COMPARE_FLAGS=-short: under a minute, as CI runs it; see examples/compare)
compare:
	cd examples/compare && GOWORK=off go run ./rollingdeploy $(COMPARE_FLAGS)

## run: the example order system
run:
	cd examples && go run ./orders

## check-clean: nothing generated and left uncommitted
check-clean:
	@test -z "$$(git status --porcelain)" || { echo "work tree not clean:"; git status --porcelain; exit 1; }

## release-check: every module as users get it, from a module proxy built from git (temporary tags at HEAD)
release-check:
	$(RELEASECHECK) head

## api-check: each module's exported API against its latest tag; fails on a break at v1 or later
api-check:
	$(RELEASECHECK) api

## release: make release TAGS="flex/v0.1.0 flexhttp/v0.1.0" checks, then tags in dependency order (see RELEASING.md)
release:
	$(RELEASECHECK) release $(TAGS)

## tag: make tag MODULE=flexhttp VERSION=v0.2.0 is make release for one module
tag:
	.ci/tag "$(MODULE)" "$(VERSION)"
