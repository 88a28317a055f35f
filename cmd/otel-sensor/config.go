package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/config"
	"github.com/otel-sensor/otel-sensor/internal/health"
	"github.com/otel-sensor/otel-sensor/internal/probes/ebpf"
)

// reloadTimeout bounds the wait for the daemon's reload after `config set`
// sent it SIGHUP.
const reloadTimeout = 10 * time.Second

// configSources are the layers the CLI's commands read: the file (--config,
// else the default file when it exists) and this process's environment.
func configSources(file string) config.Sources {
	src := config.Sources{File: config.DefaultFile, Environ: os.Environ()}
	if file != "" {
		src.File, src.FileRequired = file, true
	}
	return src
}

func newConfigCommand(stdout io.Writer) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show, read and change the configuration",
		Long: "The effective configuration is the defaults, the file (--config, else " + config.DefaultFile + "),\n" +
			"then the standard OTEL_* and the OTEL_SENSOR_* environment variables of this process.",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError{errors.New("config needs a subcommand: show, get or set")}
		},
	}
	cmd.PersistentFlags().StringVar(&configFile, "config", "", "configuration file (default "+config.DefaultFile+")")
	cmd.AddCommand(newConfigShowCommand(stdout, &configFile), newConfigGetCommand(stdout, &configFile), newConfigSetCommand(stdout, &configFile))
	return cmd
}

func newConfigShowCommand(stdout io.Writer, configFile *string) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration and where each value came from",
		Long: "Print every key with its effective value and its source: default, file PATH,\n" +
			"environment variable NAME. OTLP header values are shown as " + config.Redacted + ".",
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "yaml" && output != "json" {
				return usageError{fmt.Errorf("flag --output: must be text, yaml or json, not %q", output)}
			}
			cfg, prov, err := config.LoadWithSources(configSources(*configFile))
			if err != nil {
				return err
			}
			return writeSettings(stdout, config.Settings(cfg, prov), output)
		},
	}
	cmd.Flags().StringVar(&output, "output", "text", "output format: text, yaml or json")
	return cmd
}

// writeSettings writes the settings as config show prints them.
func writeSettings(w io.Writer, settings []config.Setting, format string) error {
	switch format {
	case "yaml":
		b, err := config.YAML(settings)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(showJSON(settings))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
	for _, s := range settings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, displayValue(s.Value), s.Source)
	}
	return tw.Flush()
}

// settingJSON is one key in config show --output json.
type settingJSON struct {
	Value  any    `json:"value"`
	Source string `json:"source"`
}

// showJSON is config show --output json: key → value and source.
func showJSON(settings []config.Setting) map[string]settingJSON {
	m := make(map[string]settingJSON, len(settings))
	for _, s := range settings {
		m[s.Key] = settingJSON{s.Value, s.Source}
	}
	return m
}

// displayValue writes a value for people: as formatValue, with the empty
// string as "" and a key that is not set as (unset).
func displayValue(v any) string {
	switch s := formatValue(v); {
	case v == nil:
		return "(unset)"
	case s == "":
		return `""`
	default:
		return s
	}
}

// formatValue writes a value as config get prints it: a string as is,
// nothing for a key that is not set, anything else as JSON.
func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func newConfigGetCommand(stdout io.Writer, configFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Print the effective value of one key",
		Long: "Print the effective value of KEY (a dotted key such as export.queue_size): strings as\n" +
			"they are, lists, maps and numbers as JSON. An unknown key exits 2.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(configSources(*configFile))
			if err != nil {
				return err
			}
			v, err := cfg.Value(args[0])
			if err != nil {
				return &config.Error{Key: args[0], Source: "config get", Err: err}
			}
			_, err = fmt.Fprintln(stdout, formatValue(v))
			return err
		},
	}
}

func newConfigSetCommand(stdout io.Writer, configFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Validate one key's value and save it in the configuration file",
		Long: "Save KEY in the configuration file (--config, default " + config.DefaultFile + ", created\n" +
			"0600 when missing) after checking that the configuration still loads. VALUE is read as\n" +
			"YAML: a list is written [a, b] (a single value given to a list key is a list of one).\n" +
			"The file's other keys are kept, its comments are not. A running daemon is then sent\n" +
			"SIGHUP: exclude.* and log.level apply at once, other keys at its next start.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			value, err := parseValue(args[1])
			if err != nil {
				return &config.Error{Key: key, Source: config.SourceSet, Err: err}
			}
			src := configSources(*configFile)
			src.FileRequired = false // set creates it
			cfg, prov, err := config.SetInFile(src, key, value, func(c config.Config) error {
				_, err := c.Exclude.SyscallNumbers(ebpf.SyscallID) // as run checks them
				return err
			})
			if err != nil {
				return err
			}
			effective, _ := cfg.Value(key)
			if s := prov.Source(key); s == "file "+src.File {
				fmt.Fprintf(stdout, "saved %s = %s in %s\n", key, displayValue(effective), src.File)
			} else {
				fmt.Fprintf(stdout, "saved %s in %s\n", key, src.File)
				fmt.Fprintf(stdout, "note: %s overrides the file in this environment, where %s stays %s (the daemon's environment may differ)\n", s, key, displayValue(effective))
			}
			if !config.Reloadable(key) {
				fmt.Fprintf(stdout, "%s takes effect when the sensor next starts (systemctl restart otel-sensor)\n", key)
				return nil
			}
			return reloadDaemon(cmd.Context(), stdout, cfg.Health.Socket, key)
		},
	}
}

// parseValue reads a command-line value as YAML; empty text is the empty
// string.
func parseValue(text string) (any, error) {
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("value %q is not valid YAML: %w", text, err)
	}
	if v == nil && strings.TrimSpace(text) == "" {
		return "", nil
	}
	return v, nil
}

// reloadDaemon makes a running daemon apply the configuration: it finds the
// daemon's pid on the health socket, sends it SIGHUP, and waits for the
// daemon to report the reload's outcome.
func reloadDaemon(ctx context.Context, stdout io.Writer, socket, key string) error {
	if socket == "" {
		fmt.Fprintf(stdout, "health.socket is empty, so a running daemon cannot be found: send it SIGHUP to apply %s\n", key)
		return nil
	}
	live, pid, err := health.QueryPeer(ctx, socket)
	if errors.Is(err, health.ErrNotRunning) {
		fmt.Fprintf(stdout, "no daemon is running (nothing answers on %s): %s applies when the sensor starts\n", socket, key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("saved, but the running daemon could not be found to apply it: %w; send it SIGHUP (systemctl kill -s HUP otel-sensor)", err)
	}
	// The pid the socket's peer credentials give is the daemon's in this
	// PID namespace, also when it runs in a container.
	sent := time.Now()
	if err := unix.Kill(pid, unix.SIGHUP); err != nil {
		return fmt.Errorf("saved, but SIGHUP to the daemon (pid %d): %w", pid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		l, err := health.Query(ctx, socket)
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("saved and sent SIGHUP to the daemon (pid %d), but it did not report the reload within %s: check its log", pid, reloadTimeout)
		case err == nil && (l.PID != live.PID || !l.StartTime.Equal(live.StartTime)):
			fmt.Fprintln(stdout, "the daemon restarted meanwhile and read the configuration at its start")
			return nil
		case err == nil && l.LastReload != nil && !l.LastReload.Before(sent):
			if l.LastReloadError != "" {
				return fmt.Errorf("saved, but the running daemon (pid %d) did not apply the configuration: %s", pid, l.LastReloadError)
			}
			fmt.Fprintf(stdout, "applied by the running daemon (pid %d) without a restart\n", pid)
			return nil
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}
