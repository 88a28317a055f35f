package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/config"
	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/health"
	"github.com/otel-sensor/otel-sensor/internal/probes"
	"github.com/otel-sensor/otel-sensor/internal/probes/ebpf"
	"github.com/otel-sensor/otel-sensor/internal/stats"
)

func newDiagnosticCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diagnostic",
		Short: "Find what makes the sensor busy",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError{errors.New("diagnostic needs a subcommand: stats or bundle")}
		},
	}
	cmd.AddCommand(newStatsCommand(stdout, stderr), newBundleCommand(stdout, stderr))
	return cmd
}

func newStatsCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		duration   time.Duration
		top        int
		output     string
		configFile string
	)
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Top file paths, initiator executables and syscalls over a window",
		Long: "Counts events for --duration: from the running daemon when one answers on the\n" +
			"health socket, else by loading the eBPF probes for the window (root needed).",
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("--output must be text or json, not %q", output)}
			}
			if duration <= 0 || duration > 10*time.Minute {
				return usageError{fmt.Errorf("--duration must be between 0 and 10m, not %s", duration)}
			}
			if top < 1 {
				return usageError{fmt.Errorf("--top must be at least 1, not %d", top)}
			}
			src := config.Sources{File: config.DefaultFile, Environ: os.Environ()}
			if configFile != "" {
				src.File, src.FileRequired = configFile, true
			}
			cfg, err := config.Load(src)
			if err != nil {
				return err
			}
			stop := countdown(stderr, duration)
			report, source, err := collectStats(cmd.Context(), cfg, duration, top)
			stop()
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			return printStats(stdout, report, source)
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", 20*time.Second, "how long to count")
	cmd.Flags().IntVar(&top, "top", 10, "rows in each list")
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	cmd.Flags().StringVar(&configFile, "config", "", "configuration file (for the health socket's path)")
	return cmd
}

// collectStats asks the daemon, or, when none runs, loads the probes for
// the window.
func collectStats(ctx context.Context, cfg config.Config, d time.Duration, n int) (stats.Report, string, error) {
	if cfg.Health.Socket != "" {
		r, err := health.QueryStats(ctx, cfg.Health.Socket, d, n)
		if err == nil {
			return r, "the running daemon", nil
		}
		if !errors.Is(err, health.ErrNotRunning) {
			return stats.Report{}, "", fmt.Errorf("ask the daemon for stats: %w", err)
		}
	}
	tap := &stats.Tap{Next: probes.HandlerFunc(func(*event.Event) {})}
	p := ebpf.New(ebpf.Options{Opens: ebpf.OpensAll, RingBufferBytes: cfg.EBPF.RingBufferBytes})
	if err := p.Start(ctx, tap); err != nil {
		return stats.Report{}, "", fmt.Errorf("no daemon runs, and loading the probes failed: %w", err)
	}
	defer p.Close()
	return tap.Window(d, n, p.Syscalls, ctx.Done()), "probes loaded for the window (no daemon running)", nil
}

func printStats(w io.Writer, r stats.Report, source string) error {
	fmt.Fprintf(w, "%.0fs from %s\n", r.DurationSeconds, source)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTOP FILE PATHS\tCOUNT")
	for _, p := range r.TopFilePaths {
		fmt.Fprintf(tw, "%q\t%d\n", p.Path, p.Count)
	}
	fmt.Fprintln(tw, "\nTOP INITIATORS\tCOUNT")
	for _, p := range r.TopInitiatorPaths {
		fmt.Fprintf(tw, "%q\t%d\n", p.Path, p.Count)
	}
	fmt.Fprintln(tw, "\nTOP SYSCALLS\tCOUNT")
	for _, s := range r.TopSyscallIDs {
		fmt.Fprintf(tw, "%s (%d)\t%d\n", s.Name, s.ID, s.Count)
	}
	return tw.Flush()
}

// countdown shows the seconds left on w while it is a terminal; the
// returned func clears it.
func countdown(w io.Writer, d time.Duration) (stop func()) {
	f, ok := w.(*os.File)
	if !ok {
		return func() {}
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		end := time.Now().Add(d)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			fmt.Fprintf(f, "\rcollecting: %3.0fs left ", time.Until(end).Seconds())
			select {
			case <-done:
				fmt.Fprint(f, "\r                       \r")
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
