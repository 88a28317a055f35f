# otel-sensor build. `make` builds the binary; `make test` runs every test
# (as root: the kernel tests load the real eBPF programs).

GO        ?= go
CLANG     ?= clang-19
STRIP     ?= llvm-strip-19
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/otel-sensor/otel-sensor/internal/version.Version=$(VERSION)
BIN       := bin/otel-sensor

export BPF2GO_CC := $(CLANG)
export BPF2GO_STRIP := $(STRIP)

.PHONY: all build run test test-short generate check-generate vmlinux bench deps-bpf deps-bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/otel-sensor

# The main job: events stream to stdout as OTLP JSON lines (needs root).
run: build
	./$(BIN) run

# Every test, kernel tests included (root needed; under CI=true a kernel
# test that cannot run fails instead of skipping).
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short ./...

# Debian's clang-19 and libbpf headers build the eBPF objects.
deps-bpf:
	@command -v $(CLANG) >/dev/null && command -v $(STRIP) >/dev/null && test -f /usr/include/bpf/bpf_helpers.h || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-19 llvm-19 libbpf-dev)

generate: deps-bpf
	$(GO) generate ./...

# Fails when the committed generated objects differ from the C sources.
check-generate: generate
	git diff --exit-code -- internal/ bpf/ || \
	  (echo "generated eBPF objects are stale: run make generate and commit" >&2; exit 1)

# vmlinux.h from the running kernel's BTF.
vmlinux:
	@command -v bpftool >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftool)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h

# Fork+exec benchmark: baseline vs the sensor vs auditd watching execve,
# interleaved; prints the table and the verdict (docs/performance.md).
# Root needed. BENCH_FLAGS passes flags, e.g. BENCH_FLAGS='-rounds 21'.
bench: build deps-bench
	$(GO) run ./bench/forkexec -sensor $(BIN) $(BENCH_FLAGS)

# Debian's auditd, for the benchmark's comparison mode.
deps-bench:
	@command -v auditd >/dev/null && command -v auditctl >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd)

clean:
	rm -rf bin
