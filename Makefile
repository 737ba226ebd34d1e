# The Makefile finds the modules itself: every folder with a go.mod.
# Each target has a per-module form: `make test/flexhttp`, `make lint/flex`.

MODULES     := $(patsubst %/go.mod,%,$(wildcard */go.mod))
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0
COVERAGE    := coverage
BENCHTIME   ?= 1x

# Minimum statement coverage per module, enforced by `make test`.
COVER_MIN_flex        := 90
COVER_MIN_flexhttp    := 85
COVER_MIN_flexmetrics := 85
COVER_MIN_flexkafka   := 80
COVER_MIN_flexcron    := 85
COVER_MIN_examples    := 0

.PHONY: all ci test lint tidy bench vuln deps-check run check-clean tag $(MODULES)

all: test lint deps-check

## ci: everything CI checks, ending with a clean work tree
ci: test lint deps-check check-clean

## test: race tests of every module, as users build it (GOWORK=off), with coverage
test: $(addprefix test/,$(MODULES))

test/%:
	@mkdir -p $(COVERAGE)
	cd $* && GOWORK=off go test -race -count=1 -coverpkg=./... -coverprofile=../$(COVERAGE)/$*.out ./...
	@.ci/coverage $(COVERAGE)/$*.out $* $(or $(COVER_MIN_$*),0)

## lint: gofmt, go vet (workspace and GOWORK=off) and staticcheck on every module
lint: $(addprefix lint/,$(MODULES))

lint/%:
	@test -z "$$(gofmt -l $*)" || { echo "gofmt would change:"; gofmt -l $*; exit 1; }
	cd $* && go vet ./... && GOWORK=off go vet ./...
	cd $* && go run $(STATICCHECK) ./...

## tidy: go mod tidy in every module, then go work sync
tidy: $(addprefix tidy/,$(MODULES))
	go work sync

tidy/%:
	cd $* && GOWORK=off go mod tidy

## bench: every benchmark once through (BENCHTIME=2s for figures worth comparing)
bench: $(addprefix bench/,$(MODULES))

bench/%:
	cd $* && go test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## vuln: govulncheck on every module (needs access to vuln.go.dev)
vuln: $(addprefix vuln/,$(MODULES))

vuln/%:
	cd $* && GOWORK=off go run $(GOVULNCHECK) ./...

## deps-check: the core module must require no module at all
deps-check:
	@n=$$(cd flex && GOWORK=off go list -m all | wc -l); \
	if [ "$$n" -ne 1 ]; then echo "flex requires other modules:"; (cd flex && GOWORK=off go list -m all); exit 1; fi; \
	echo "flex: standard library only"

## run: the example order system
run:
	cd examples && go run ./orders

## check-clean: nothing generated and left uncommitted
check-clean:
	@test -z "$$(git status --porcelain)" || { echo "work tree not clean:"; git status --porcelain; exit 1; }

## tag: make tag MODULE=flexhttp VERSION=v0.2.0 verifies the module and tags it MODULE/VERSION
tag:
	.ci/tag "$(MODULE)" "$(VERSION)"
