package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/otel-sensor/otel-sensor/config"
	"github.com/otel-sensor/otel-sensor/internal/export"
	"github.com/otel-sensor/otel-sensor/internal/probes"
	"github.com/otel-sensor/otel-sensor/internal/probes/ebpf"
	"github.com/otel-sensor/otel-sensor/internal/version"
)

// shutdownTimeout bounds the flush at exit.
const shutdownTimeout = 10 * time.Second

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
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		src := config.Sources{File: config.DefaultFile, Environ: os.Environ()}
		if configFile != "" {
			src.File, src.FileRequired = configFile, true
		}
		for _, name := range []string{"provider", "output"} {
			if f := cmd.Flags().Lookup(name); f.Changed {
				src.Flags = append(src.Flags, config.Flag{Name: "--" + name, Key: name, Value: f.Value.String()})
			}
		}
		cfg, err := config.Load(src)
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(stderr, nil))
		return run(cmd.Context(), cfg, log)
	}
	return cmd
}

// run starts the pipeline and the provider, waits for ctx to end, then
// stops the provider (draining the kernel's buffer) and flushes the pipeline.
func run(ctx context.Context, cfg config.Config, log *slog.Logger) (err error) {
	var exp export.Exporter
	if cfg.Output != "" {
		f, err := export.OpenJSONLines(cfg.Output)
		if err != nil {
			return fmt.Errorf("open output: %w", err)
		}
		exp = f
	} else {
		exp = export.NewJSONLines(os.Stdout)
	}

	provider, err := newProvider(cfg)
	if err != nil {
		exp.Shutdown(context.Background())
		return err
	}
	res, err := export.DetectResource(export.ResourceOptions{Version: version.Version, Provider: provider.Name()})
	if err != nil {
		exp.Shutdown(context.Background())
		return &config.Error{Source: "environment", Err: err}
	}
	pipe := export.NewPipeline(res, exp, export.PipelineConfig{
		QueueSize:       cfg.Export.QueueSize,
		MaxBatch:        cfg.Export.MaxBatch,
		FlushInterval:   cfg.Export.FlushInterval,
		MetricsInterval: cfg.Export.MetricsInterval,
		Provider:        provider.Name(),
		Drops:           provider.Drops,
		Syscalls:        provider.Syscalls,
	})
	if err := pipe.Start(ctx); err != nil {
		return fmt.Errorf("start pipeline: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if serr := pipe.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("flush: %w", serr)
		}
	}()

	if err := provider.Start(ctx, pipe); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("start %s provider: kernel does not support it (the netlink fallback is not available yet): %w", provider.Name(), err)
		}
		return fmt.Errorf("start %s provider: %w", provider.Name(), err)
	}
	log.Info("sensor running", "provider", provider.Name(), "version", version.Version, "output", outputName(cfg))

	<-ctx.Done()
	log.Info("stopping: draining the kernel buffer and flushing")
	if err := provider.Close(); err != nil {
		return fmt.Errorf("stop %s provider: %w", provider.Name(), err)
	}
	return nil
}

func newProvider(cfg config.Config) (probes.Provider, error) {
	switch cfg.Provider {
	case "auto", "ebpf":
		return ebpf.New(ebpf.Options{
			RingBufferBytes: cfg.EBPF.RingBufferBytes,
			PollInterval:    cfg.EBPF.PollInterval,
		}), nil
	}
	return nil, fmt.Errorf("provider %q is not available in this build yet", cfg.Provider)
}

func outputName(cfg config.Config) string {
	if cfg.Output == "" {
		return "stdout"
	}
	return cfg.Output
}
