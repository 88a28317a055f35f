package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/otel-sensor/otel-sensor/config"
	"github.com/otel-sensor/otel-sensor/internal/export"
	"github.com/otel-sensor/otel-sensor/internal/health"
	"github.com/otel-sensor/otel-sensor/internal/privilege"
	"github.com/otel-sensor/otel-sensor/internal/probes"
	"github.com/otel-sensor/otel-sensor/internal/probes/ebpf"
	"github.com/otel-sensor/otel-sensor/internal/probes/netlink"
	"github.com/otel-sensor/otel-sensor/internal/stats"
	"github.com/otel-sensor/otel-sensor/internal/version"
)

// shutdownTimeout bounds the flush at exit.
const shutdownTimeout = 10 * time.Second

// handoffEvents bounds the events held between the provider's start and the
// pipeline's creation, which takes milliseconds.
const handoffEvents = 8192

func newRunCommand(stderr io.Writer) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the sensor: events stream to stdout, a file or an OTLP endpoint",
		Long: "Run the sensor until SIGINT or SIGTERM, then flush what it holds and exit 0.\n" +
			"With no configuration, events are written to stdout as OTLP JSON lines.",
	}
	cmd.Flags().StringVar(&configFile, "config", "", "configuration file (default "+config.DefaultFile+" when it exists)")
	cmd.Flags().String("provider", "", "event provider: auto, ebpf or netlink")
	cmd.Flags().String("output", "", "write OTLP JSON lines to this file instead of stdout")
	cmd.Flags().String("otlp-endpoint", "", "export over OTLP to this endpoint (like OTEL_EXPORTER_OTLP_ENDPOINT)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		src := config.Sources{File: config.DefaultFile, Environ: os.Environ()}
		if configFile != "" {
			src.File, src.FileRequired = configFile, true
		}
		for _, fk := range [][2]string{{"provider", "provider"}, {"output", "output"}, {"otlp-endpoint", "otlp.endpoint"}} {
			if f := cmd.Flags().Lookup(fk[0]); f.Changed {
				src.Flags = append(src.Flags, config.Flag{Name: "--" + fk[0], Key: fk[1], Value: f.Value.String()})
			}
		}
		cfg, prov, err := config.LoadWithSources(src)
		if err != nil {
			return err
		}
		log, level, closeLog, err := newLogger(cfg.Log, stderr)
		if err != nil {
			return &config.Error{Key: "log.output", Source: prov.Source("log.output"), Err: err}
		}
		defer closeLog()
		return run(cmd.Context(), cfg, func() (config.Config, error) { return config.Load(src) }, log, level)
	}
	return cmd
}

// run starts the pipeline and the provider, waits for ctx to end, then
// stops the provider (draining the kernel's buffer) and flushes the pipeline.
// On SIGHUP it reads the configuration again with reload and applies what
// can change while running (the exclusions and the log level).
func run(ctx context.Context, cfg config.Config, reload func() (config.Config, error), log *slog.Logger, level *slog.LevelVar) (err error) {
	// Before anything is loaded: name every capability the provider lacks.
	if err := privilege.Check(cfg.Provider, log); err != nil {
		return err
	}
	exp, err := newExporter(ctx, cfg, log)
	if err != nil {
		return err
	}

	// The provider is selected by starting it; its events wait in the
	// handoff until the pipeline, which needs the provider's name, exists.
	handoff := probes.NewHandoff(handoffEvents)
	provider, reason, err := probes.Select(ctx, cfg.Provider, handoff, providers(cfg))
	if err != nil {
		exp.Shutdown(context.Background())
		return err
	}
	log.Info("provider selected", "provider", provider.Name(), "reason", reason)
	// The provider in use may change: eBPF failing while running hands
	// over to netlink (Supervise below).
	active := probes.NewActive(provider, reason)
	res, err := export.DetectResource(export.ResourceOptions{Version: version.Version, Provider: provider.Name()})
	if err != nil {
		provider.Close()
		exp.Shutdown(context.Background())
		return &config.Error{Source: "environment", Err: err}
	}
	exports := health.TrackExports(exp) // for health's last_success
	pipe := export.NewPipeline(res, exports, export.PipelineConfig{
		QueueSize:       cfg.Export.QueueSize,
		MaxBatch:        cfg.Export.MaxBatch,
		Exports:         exportsInFlight(cfg),
		FlushInterval:   cfg.Export.FlushInterval,
		MetricsInterval: cfg.Export.MetricsInterval,
		Provider:        provider.Name(),
		Drops:           func() []probes.Drop { return append(active.Drops(), handoff.Drops()...) },
		Syscalls:        active.Syscalls,
		Excluded:        excludedCounts(provider),
	})
	// The stats tap counts only while `diagnostic stats` has a window open.
	tap := &stats.Tap{Next: pipe, OnOpen: func(d time.Duration) { log.Info("diagnostic stats window open", "duration", d) }}
	handoff.Connect(tap)
	if err := pipe.Start(ctx); err != nil {
		provider.Close()
		return fmt.Errorf("start pipeline: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		// A flush cut short (the collector away past the bound) is not a
		// failure of the run: the summary counts what it dropped, and the
		// exit stays 0 as the contract says.
		if serr := pipe.Shutdown(sctx); serr != nil {
			log.Warn("flush incomplete", "error", serr)
		}
		logStopped(log, pipe.Status())
	}()

	var reloaded reloads
	stopHealth := serveHealth(ctx, cfg, log, liveStatus(cfg, active, pipe, exports, &reloaded),
		func(d time.Duration, n int, stop <-chan struct{}) stats.Report {
			return tap.Window(d, n, active.Syscalls, stop)
		})
	defer stopHealth()

	if err := applyExclusions(provider, cfg.Exclude, log); err != nil {
		provider.Close()
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			start := time.Now()
			next, err := reload()
			if err == nil {
				err = applyExclusions(active.Current(), next.Exclude, log)
			}
			if err == nil {
				level.Set(next.Log.SlogLevel())
			}
			reloaded.done(start, err)
			if err != nil {
				log.Error("SIGHUP: configuration not applied", "error", err)
				continue
			}
			log.Info("SIGHUP: exclusions and log.level applied; other changes take effect at restart")
		}
	}()

	go func() {
		err := active.Supervise(ctx, handoff, providers(cfg).Netlink, func(name, reason string) {
			pipe.SetProvider(name)
			log.Error("provider switched: events continue without file and socket events", "provider", name, "reason", reason)
		})
		if err != nil {
			log.Error("no provider delivers events", "error", err)
		}
	}()

	log.Info("sensor running", "provider", provider.Name(), "version", version.Version,
		"events", destination(cfg, cfg.LogsExporter(), config.SignalLogs),
		"metrics", destination(cfg, cfg.MetricsExporter(), config.SignalMetrics))

	<-ctx.Done()
	log.Info("stopping: draining the kernel buffer and flushing")
	if err := active.Close(); err != nil {
		return fmt.Errorf("stop %s provider: %w", active.Name(), err)
	}
	return nil
}

// logStopped says what the run accepted and what it dropped, by stage and
// reason: the last metrics cannot reach a collector that is down.
func logStopped(log *slog.Logger, st export.Status) {
	args := []any{"events", st.EventsTotal, "dropped", st.DroppedTotal}
	if len(st.Drops) == 0 {
		log.Info("stopped", args...)
		return
	}
	var b strings.Builder
	for i, d := range st.Drops {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(d.Stage + "/" + d.Reason)
		if d.EventName != "" {
			b.WriteString("/" + d.EventName)
		}
		fmt.Fprintf(&b, "=%d", d.Count)
	}
	log.Warn("stopped", append(args, "drops", b.String())...)
}

// applyExclusions sets the configured exclusions in the eBPF provider. A
// path or executable that does not exist is logged and skipped; an unknown
// syscall is a configuration error.
func applyExclusions(provider probes.Provider, x config.Exclude, log *slog.Logger) error {
	configured := len(x.Initiators)+len(x.Paths)+len(x.Syscalls) > 0
	ep, ok := provider.(*ebpf.Provider)
	if !ok {
		if configured {
			log.Warn("exclusions are applied in the kernel by the eBPF provider; the " + provider.Name() + " provider reports everything")
		}
		return nil
	}
	ids, err := x.SyscallNumbers(ebpf.SyscallID)
	if err != nil {
		return err
	}
	initiators := make([]ebpf.Initiator, len(x.Initiators))
	for i, in := range x.Initiators {
		initiators[i] = ebpf.Initiator{Path: in.Path, Descendants: in.Descendants}
	}
	if err := ep.SetExclusions(ebpf.Exclusions{Initiators: initiators, Paths: x.Paths, Syscalls: ids}); err != nil {
		log.Warn("some exclusions were not applied", "error", err)
	}
	return nil
}

// excludedCounts reports the eBPF provider's exclusion counters.
func excludedCounts(provider probes.Provider) func() map[string]uint64 {
	ep, ok := provider.(*ebpf.Provider)
	if !ok {
		return nil
	}
	return func() map[string]uint64 {
		c := ep.Excluded()
		return map[string]uint64{"initiator": c.Initiator, "path": c.Path, "syscall": c.Syscall}
	}
}

// opens maps file.opens (validated) to the eBPF provider's setting.
func opens(mode string) ebpf.Opens {
	switch mode {
	case "all":
		return ebpf.OpensAll
	case "none":
		return ebpf.OpensNone
	}
	return ebpf.OpensWrites
}

// providers are the providers the configuration may select.
func providers(cfg config.Config) probes.Constructors {
	return probes.Constructors{
		EBPF: func() probes.Provider {
			return ebpf.New(ebpf.Options{
				RingBufferBytes: cfg.EBPF.RingBufferBytes,
				PollInterval:    cfg.EBPF.PollInterval,
				Opens:           opens(cfg.File.Opens),
				ReportFailed:    cfg.File.Failed,
			})
		},
		Netlink: func() probes.Provider { return netlink.New(netlink.Options{}) },
		Policy:  kernelPolicy,
	}
}

// newExporter builds what each signal is exported to: OTLP, the console
// (stdout or the output file) or nothing.
func newExporter(ctx context.Context, cfg config.Config, log *slog.Logger) (export.Exporter, error) {
	logsTo, metricsTo := cfg.LogsExporter(), cfg.MetricsExporter()
	var console export.Exporter
	if logsTo == config.ExporterConsole || metricsTo == config.ExporterConsole {
		if cfg.Output != "" {
			f, err := export.OpenJSONLines(cfg.Output)
			if err != nil {
				return nil, fmt.Errorf("open output: %w", err)
			}
			console = f
		} else {
			console = export.NewJSONLines(os.Stdout)
		}
	}
	opts := export.OTLPOptions{Logger: log, Version: version.Version}
	if logsTo == config.ExporterOTLP {
		opts.Logs = otlpConfig(cfg, config.SignalLogs)
	}
	if metricsTo == config.ExporterOTLP {
		opts.Metrics = otlpConfig(cfg, config.SignalMetrics)
	}
	if q := cfg.Export.PersistentQueue; q.Enabled {
		opts.PersistentQueue = &export.PersistentQueueConfig{Directory: q.Directory, MaxBytes: q.MaxBytes, FSync: q.FSync}
	}
	var otlp export.Exporter
	if opts.Logs != nil || opts.Metrics != nil {
		o, err := export.NewOTLP(ctx, opts)
		if err != nil {
			if console != nil {
				console.Shutdown(context.WithoutCancel(ctx))
			}
			key := "otlp"
			if errors.Is(err, export.ErrPersistentQueue) {
				key = "export.persistent_queue.directory"
			}
			return nil, &config.Error{Key: key, Source: "effective configuration", Err: err}
		}
		otlp = o
	}
	pick := func(to string) export.Exporter {
		switch to {
		case config.ExporterOTLP:
			return otlp
		case config.ExporterConsole:
			return console
		}
		return nil
	}
	return export.Split{Logs: pick(logsTo), Metrics: pick(metricsTo)}, nil
}

// otlpExportsInFlight is how many batches of events are sent over OTLP at
// once: while the collector decodes one, the next is on its way, so its
// answer's round trip does not hold the pipeline (docs/performance.md,
// throughput). The order between batches is not kept, which OTLP does not
// promise anyway.
const otlpExportsInFlight = 2

// exportsInFlight is the pipeline's Exports: otlpExportsInFlight when the
// events go over OTLP straight to the collector; one at a time to the
// console, whose lines stay in order, and into the persistent queue,
// whose consumers send concurrently already.
func exportsInFlight(cfg config.Config) int {
	if cfg.LogsExporter() == config.ExporterOTLP && !cfg.Export.PersistentQueue.Enabled {
		return otlpExportsInFlight
	}
	return 1
}

// otlpConfig is the OTLP exporter configuration of one signal.
func otlpConfig(cfg config.Config, signal string) *export.OTLPConfig {
	s, _ := cfg.OTLPSignal(signal)
	r := cfg.OTLP.Retry
	retry := export.RetryConfig{
		Disabled:        !r.Enabled,
		InitialInterval: r.InitialInterval,
		MaxInterval:     r.MaxInterval,
		MaxElapsedTime:  r.MaxElapsedTime,
	}
	if r.MaxElapsedTime == 0 {
		retry.MaxElapsedTime = -1 // config: 0 is no limit
	}
	return &export.OTLPConfig{
		Protocol:    s.Protocol,
		Endpoint:    s.Endpoint,
		Insecure:    *s.Insecure,
		CAFile:      s.CAFile,
		CertFile:    s.CertFile,
		KeyFile:     s.KeyFile,
		Headers:     s.Headers,
		Compression: s.Compression,
		Timeout:     s.Timeout,
		Retry:       retry,
	}
}

// destination says where a signal goes, for the start-up message.
func destination(cfg config.Config, to, signal string) string {
	switch to {
	case config.ExporterOTLP:
		s, _ := cfg.OTLPSignal(signal)
		return "otlp " + s.Protocol + " " + s.Endpoint
	case config.ExporterConsole:
		if cfg.Output != "" {
			return cfg.Output
		}
		return "stdout"
	}
	return to
}
