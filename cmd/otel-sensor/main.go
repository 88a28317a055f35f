// Command otel-sensor is a Linux endpoint telemetry sensor: it observes
// process activity in the kernel and emits each observation as an
// OpenTelemetry log record.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/otel-sensor/otel-sensor/config"
	"github.com/otel-sensor/otel-sensor/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks errors in how the command was called (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// execute runs the CLI and returns the exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "otel-sensor:", err)
	var ue usageError
	var ce *config.Error
	// cobra reports an unknown subcommand as a plain error.
	if errors.As(err, &ue) || errors.As(err, &ce) || strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "otel-sensor",
		Short:         "Linux endpoint telemetry as OpenTelemetry events",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError{errors.New("a command is required: run, health, config, diagnostic, version (see --help)")}
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCommand(stderr), newVersionCommand(stdout))
	root.AddCommand(newHealthCommand(stdout), newConfigCommand(stdout), newDiagnosticCommand(stdout, stderr))
	wrapAllArgs(root)
	return root
}

// wrapAllArgs makes every subcommand's argument errors usage errors.
func wrapAllArgs(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		c.Args = wrapArgs(c.Args)
		wrapAllArgs(c)
	}
}

// wrapArgs turns argument-validation errors into usage errors.
func wrapArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	if v == nil {
		v = cobra.NoArgs
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(stdout, "otel-sensor", version.Version)
			return err
		},
	}
}
