package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/otel-sensor/otel-sensor/config"
	"github.com/otel-sensor/otel-sensor/internal/export"
	"github.com/otel-sensor/otel-sensor/internal/health"
	"github.com/otel-sensor/otel-sensor/internal/probes"
	"github.com/otel-sensor/otel-sensor/internal/probes/policy"
	"github.com/otel-sensor/otel-sensor/internal/version"
)

// notHealthy is the error of a health check that found issues (exit 1).
type notHealthy struct{ issues int }

func (e notHealthy) Error() string { return fmt.Sprintf("not healthy: %d issue(s)", e.issues) }

func newHealthCommand(stdout io.Writer) *cobra.Command {
	var configFile, output string
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Report the sensor's health: provider, kernel, exporter, audit",
		Long: "Report the running daemon's state (read from its health socket, root only) and what\n" +
			"can be checked locally: the kernel support policy, BTF, lockdown and audit rules.\n" +
			"Exit code 0 when healthy, 1 when there are health issues, 2 for usage errors.",
	}
	cmd.Flags().StringVar(&output, "output", "text", "output format: text or json")
	cmd.Flags().StringVar(&configFile, "config", "", "configuration file (default "+config.DefaultFile+" when it exists)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if output != "text" && output != "json" {
			return usageError{fmt.Errorf("flag --output: must be text or json, not %q", output)}
		}
		src := config.Sources{File: config.DefaultFile, Environ: os.Environ()}
		if configFile != "" {
			src.File, src.FileRequired = configFile, true
		}
		cfg, err := config.Load(src)
		if err != nil {
			return err
		}
		r := healthReport(cmd.Context(), cfg)
		if output == "json" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(r)
		} else {
			err = r.WriteText(stdout)
		}
		if err != nil {
			return fmt.Errorf("write health report: %w", err)
		}
		if !r.Healthy {
			return notHealthy{len(r.Issues)}
		}
		return nil
	}
	return cmd
}

// healthReport asks the daemon for its state and checks the host. Without
// a daemon the kernel policy's feature probes run (they load no sensor
// program); with one, its provider and reason say what they would.
func healthReport(ctx context.Context, cfg config.Config) health.Report {
	in := health.Inputs{Socket: cfg.Health.Socket, Provider: cfg.Provider, Exporter: exporterInfo(cfg)}
	if in.Socket != "" {
		live, err := health.Query(ctx, in.Socket)
		if err == nil {
			in.Live = &live
		} else {
			in.DaemonErr = err
		}
	}
	in.Facts = policy.Gather(policy.Options{Probe: in.Live == nil})
	in.Verdict = policy.Evaluate(in.Facts)
	in.Audit = health.CheckAudit()
	return health.Build(in)
}

// exporterInfo is where the configuration sends the events.
func exporterInfo(cfg config.Config) health.Exporter {
	e := health.Exporter{Type: cfg.LogsExporter()}
	switch e.Type {
	case config.ExporterOTLP:
		s, _ := cfg.OTLPSignal(config.SignalLogs)
		e.Endpoint = s.Protocol + " " + s.Endpoint
	case config.ExporterConsole:
		e.Endpoint = "stdout"
		if cfg.Output != "" {
			e.Endpoint = cfg.Output
		}
	}
	return e
}

// kernelPolicy is the kernel support policy's verdict on this host, for
// probes.Select.
func kernelPolicy() policy.Verdict {
	return policy.Evaluate(policy.Gather(policy.Options{Probe: true}))
}

// liveStatus returns the daemon's state for the health socket.
func liveStatus(cfg config.Config, active *probes.Active, pipe *export.Pipeline, exports *health.ExportTracker, reloaded *reloads) func() health.Live {
	started := time.Now()
	info := exporterInfo(cfg)
	return func() health.Live {
		st := pipe.Status()
		e := info
		switch {
		case st.LastError != nil:
			e.LastError = st.LastError.Error()
		case st.Retrying != "":
			// No export has succeeded since this attempt failed: the
			// export in flight is retrying it.
			e.LastError = "retrying: " + st.Retrying
		}
		e.LastSuccess = exports.LastSuccess()
		e.QueueSize, e.QueueCapacity = st.Queued, st.QueueCapacity
		l := health.Live{
			PID:                os.Getpid(),
			Version:            version.Version,
			StartTime:          started,
			Provider:           active.Name(),
			ProviderReason:     active.Reason(),
			EventsTotal:        st.EventsTotal,
			EventsDroppedTotal: st.DroppedTotal,
			Exporter:           e,
		}
		reloaded.fill(&l)
		return l
	}
}

// serveHealth serves status on the configured health socket and returns
// the function that stops it. The sensor runs without the socket when it
// cannot be served (health then cannot read this daemon), and says so.
func serveHealth(ctx context.Context, cfg config.Config, log *slog.Logger, status func() health.Live, statsWindow health.StatsFunc) (stop func()) {
	if cfg.Health.Socket == "" {
		log.Info("no health socket: health.socket is empty")
		return func() {}
	}
	srv := health.NewServer(cfg.Health.Socket, status)
	srv.ServeStats(statsWindow)
	if err := srv.Start(ctx); err != nil {
		log.Warn("health socket not served; otel-sensor health cannot read this daemon's state", "socket", cfg.Health.Socket, "error", err)
		return func() {}
	}
	return func() {
		if err := srv.Close(); err != nil {
			log.Warn("close health socket", "socket", cfg.Health.Socket, "error", err)
		}
	}
}
