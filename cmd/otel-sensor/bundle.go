package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/otel-sensor/otel-sensor/config"
	"github.com/otel-sensor/otel-sensor/internal/bundle"
	"github.com/otel-sensor/otel-sensor/internal/probes/policy"
	"github.com/otel-sensor/otel-sensor/internal/stats"
	"github.com/otel-sensor/otel-sensor/internal/version"
)

// logTailBytes is how much of the end of the log file a bundle holds.
const logTailBytes = 256 << 10

// bundleTop is the rows of each list in the bundle's stats window.
const bundleTop = 20

func newBundleCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		out        string
		duration   time.Duration
		configFile string
	)
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Write one archive with everything support needs to diagnose the sensor",
		Long: "Write a tar.gz archive (0600) with the health report, the effective configuration\n" +
			"(secrets redacted), kernel and distribution facts, the loaded BPF programs and maps\n" +
			"with their run counts, recent logs and a diagnostic stats window of --duration.\n" +
			"Its MANIFEST lists every part, and why a part could not be collected. Run as root.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if duration <= 0 || duration > 10*time.Minute {
				return usageError{fmt.Errorf("--duration must be between 0 and 10m, not %s", duration)}
			}
			return writeBundle(cmd.Context(), stdout, stderr, configFile, out, duration)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "archive to write (default ./otel-sensor-bundle-<host>-<time>.tar.gz)")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Second, "length of the stats window (BPF run counts are measured over it too)")
	cmd.Flags().StringVar(&configFile, "config", "", "configuration file (default "+config.DefaultFile+" when it exists)")
	return cmd
}

// writeBundle collects the parts and writes the archive. A part that cannot
// be collected is listed in the MANIFEST with the reason; only a failure to
// write the archive is an error.
func writeBundle(ctx context.Context, stdout, stderr io.Writer, configFile, out string, d time.Duration) error {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	name := fmt.Sprintf("otel-sensor-bundle-%s-%s", host, now.Format("20060102T150405Z"))
	if out == "" {
		out = name + ".tar.gz"
	}

	// An invalid configuration is worth a bundle too: its error is the
	// config part, and the rest is collected with the defaults.
	cfg, prov, cfgErr := config.LoadWithSources(configSources(configFile))
	if cfgErr != nil {
		cfg = config.Default()
	}
	w, err := bundle.Create(out, bundle.Options{
		Dir: name,
		Header: []string{
			"otel-sensor diagnostic bundle",
			"version: " + version.Version,
			"host: " + host,
			"created: " + now.Format(time.RFC3339),
			"command: otel-sensor " + strings.Join(os.Args[1:], " "),
		},
		Secrets: secrets(cfg),
	})
	if err != nil {
		return err
	}
	defer w.Abort()

	var writeErr error // the archive cannot be written: no bundle
	add := func(err error) {
		if writeErr == nil {
			writeErr = err
		}
	}
	if cfgErr != nil {
		w.Skip("config.json", "effective configuration", cfgErr)
	} else {
		add(w.AddJSON("config.json", "effective configuration with the source of each value, secrets redacted (config show --output json)", showJSON(config.Settings(cfg, prov))))
	}
	add(w.AddJSON("health.json", "health report (health --output json)", healthReport(ctx, cfg)))
	facts := policy.Gather(policy.Options{Probe: true})
	add(w.AddJSON("kernel.json", "kernel and distribution: uname, os-release, /proc/cmdline, lockdown, BPF features and sysctls, kernel support policy verdict", bundle.KernelFacts(facts, policy.Evaluate(facts))))

	var (
		report   stats.Report
		source   string
		statsErr error
	)
	stop := countdown(stderr, d)
	bpf, bpfErr := bundle.BPFWindow(func() { report, source, statsErr = collectStats(ctx, cfg, d, bundleTop) })
	stop()
	if statsErr != nil {
		w.Skip("stats.json", "diagnostic stats window", statsErr)
	} else {
		add(w.AddJSON("stats.json", fmt.Sprintf("diagnostic stats over %s from %s (diagnostic stats --output json)", d, source), report))
	}
	if bpfErr != nil {
		w.Skip("bpf.json", "loaded BPF programs and maps", bpfErr)
	} else {
		add(w.AddJSON("bpf.json", "loaded BPF programs (run counts over the stats window) and maps", bpf))
	}
	if cfg.Log.Output == config.LogStderr {
		w.Skip("logs.txt", "the sensor's recent log", errors.New("log.output is stderr, so the daemon's log is wherever its stderr goes: journalctl -u otel-sensor under systemd, kubectl logs on Kubernetes"))
	} else if tail, err := fileTail(cfg.Log.Output, logTailBytes); err != nil {
		w.Skip("logs.txt", "the sensor's recent log", err)
	} else {
		add(w.Add("logs.txt", fmt.Sprintf("the last %d KiB at most of %s", logTailBytes>>10, cfg.Log.Output), tail))
	}

	if writeErr != nil {
		return writeErr
	}
	if err := w.Close(); err != nil {
		return err
	}
	var missing []string
	for _, p := range w.Parts() {
		if p.Missing != "" {
			missing = append(missing, p.Name)
		}
	}
	fmt.Fprintf(stdout, "wrote %s (%d parts", out, len(w.Parts()))
	if len(missing) > 0 {
		fmt.Fprintf(stdout, "; not collected: %s, see its MANIFEST", strings.Join(missing, ", "))
	}
	fmt.Fprintln(stdout, ")")
	return nil
}

// secrets are the configuration's secret values: the OTLP headers' values.
func secrets(cfg config.Config) []string {
	var out []string
	for _, h := range []map[string]string{cfg.OTLP.Headers, cfg.OTLP.Logs.Headers, cfg.OTLP.Metrics.Headers} {
		for _, v := range h {
			out = append(out, v)
		}
	}
	return out
}

// fileTail returns the last n bytes of the file at path, from the start of
// a line.
func fileTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(fi.Size()-n, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if off > 0 {
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b, nil
}
