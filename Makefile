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
.PHONY: install image collector collector-validate

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/otel-sensor

# The main job: events stream to stdout as OTLP JSON lines (needs root).
run: build
	./$(BIN) run

# Every test, kernel tests included (root needed; under CI=true a kernel
# test that cannot run fails instead of skipping). One package at a time
# (-p 1): kernel tests observe the whole machine, and another package's
# flood of file events made the outage test's sensor fill its queue.
test:
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 20m ./...

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

# Overhead benchmarks: fork+exec, open+close, rename and connect+accept
# loops with no sensor, with the sensor and under auditd watching the same
# syscalls, interleaved; fork+exec also with the sensor's netlink provider
# (mode sensor-netlink; it reports no file or socket events). Prints a table
# and a verdict per workload (docs/performance.md). Root needed; about 5
# minutes. BENCH_FLAGS passes flags, e.g. BENCH_FLAGS='-workload rename' or
# BENCH_FLAGS='-rounds 21'.
bench: build deps-bench
	$(GO) run ./bench/overhead -sensor $(BIN) $(BENCH_FLAGS)

# Debian's auditd, for the benchmark's comparison mode.
deps-bench:
	@command -v auditd >/dev/null && command -v auditctl >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd)

# Throughput benchmark: events per second from the pipeline to the
# Collector's otlpreceiver on loopback (gRPC and HTTP/protobuf), with the
# sensor's CPU per event and peak RSS, at 50k, 100k and 150k events/s and
# unthrottled; a table and a verdict against issue 6's target
# (docs/performance.md). Root needed; about 10 minutes. THROUGHPUT_FLAGS
# passes flags, e.g. THROUGHPUT_FLAGS='-rates 100k -repeat 5 -transports grpc'.
.PHONY: bench-throughput
bench-throughput: build
	$(GO) run ./bench/throughput -sensor $(BIN) $(THROUGHPUT_FLAGS)

# Install the binary, the systemd unit, the sysusers.d entry for its user
# and the example configuration (kept when one exists). DESTDIR and PREFIX
# as usual; the unit's ExecStart follows BINDIR. Then, on the host:
# systemd-sysusers && systemctl daemon-reload && systemctl enable --now otel-sensor
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/otel-sensor
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/otel-sensor
	sed 's|/usr/local/bin/otel-sensor|$(BINDIR)/otel-sensor|' deploy/systemd/otel-sensor.service > $(DESTDIR)$(UNITDIR)/otel-sensor.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/otel-sensor.service
	install -m 0644 deploy/systemd/otel-sensor.sysusers $(DESTDIR)$(SYSUSERSDIR)/otel-sensor.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/otel-sensor/config.yaml || \
	  install -m 0644 config/example.yaml $(DESTDIR)$(SYSCONFDIR)/otel-sensor/config.yaml

# The container image as an OCI image layout tar (also loadable by docker
# load), built without a container engine; reproducible: every time in it is
# SOURCE_DATE_EPOCH (the last commit's time by default).
IMAGE             ?= bin/otel-sensor-image.tar
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

image: build
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./deploy/image -binary $(BIN) \
	  -config config/example.yaml -version $(VERSION) -out $(IMAGE)

# A Collector with the components of deploy/collector/*.yaml, built with the
# Collector Builder (ocb) into bin/otelcol-sensor (minutes: not part of make
# test), and both configurations validated with it.
OCB_VERSION ?= v0.158.0
OCB         := bin/ocb-$(OCB_VERSION)/builder

$(OCB):
	GOBIN=$(CURDIR)/bin/ocb-$(OCB_VERSION) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

collector: $(OCB)
	cd deploy/collector && $(CURDIR)/$(OCB) --config builder.yaml
	cp bin/otelcol-sensor-build/otelcol-sensor bin/otelcol-sensor

collector-validate: collector
	K8S_NODE_NAME=validate bin/otelcol-sensor validate --config deploy/collector/agent.yaml
	bin/otelcol-sensor validate --config deploy/collector/gateway.yaml

clean:
	rm -rf bin
