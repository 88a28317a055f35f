// Command throughput measures how many events per second the sensor
// delivers from its pipeline to an OTLP receiver on loopback, and what the
// sensor costs while it does: CPU time per event, CPU utilisation and peak
// RSS. It checks the target of issue 6: at least 100,000 events/s
// sustained on this 2-core machine with zero drops and an RSS under 64 MiB.
//
// For every run it starts the Collector's otlpreceiver in this process
// (package otlptest, counting records without holding them), starts the
// real sensor binary with OTEL_EXPORTER_OTLP_ENDPOINT pointing at it and
// file.opens=all, and has a worker process open and close a file made for
// the run at a target rate for a fixed time. Each open is one file.open
// event; the receiver counts those with the run's file.path. After the
// workload it waits until the receiver has them all (or a deadline), stops
// the sensor with SIGTERM and reads its drop counters from the last metrics
// it sent.
//
// It is a benchmark, not a test: it exits 0 whatever the figures are, 1
// when something broke (the sensor did not start or exit 0, the workload
// failed) and 2 on a usage error. Run it as root (`make bench-throughput`,
// or go run ./bench/throughput -h for the flags); the method is in
// docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if spec, ok := os.LookupEnv(workerVar); ok {
		os.Exit(runWorker(spec))
	}
	os.Exit(run(os.Args[1:]))
}

// configs are named sets of sensor settings a run can use.
var configs = map[string][]string{
	// The sensor's defaults: queue 8192 events, batches of 512, flush 200 ms.
	"default": nil,
	// Bigger batches (fewer requests, each amortising its fixed cost; 2048
	// file events are about 2.5 MiB of protobuf, under the 4 MiB a
	// Collector's gRPC receiver accepts by default) and a queue that holds
	// about 0.3 s at 100k events/s.
	"tuned": {
		"OTEL_SENSOR_EXPORT__MAX_BATCH=2048",
		"OTEL_SENSOR_EXPORT__QUEUE_SIZE=32768",
	},
	// The persistent queue on (its own directory per run, {dir}): the
	// pipeline's export returns once a batch is on disk, and 10 consumers
	// send concurrently.
	"persistent": {
		"OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__ENABLED=true",
		"OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__DIRECTORY={dir}/queue",
	},
}

// transports says where the events go; metrics always go to the receiver.
var transports = []string{"grpc", "http/protobuf", "file", "none", "discard"}

type options struct {
	sensors    []sensorBin
	rates      []float64 // events/s; 0: unthrottled
	duration   time.Duration
	repeat     int
	transports []string
	configs    []string
	drain      time.Duration
	settle     time.Duration
	perfDir    string
	keep       bool
	// busyLimit: a run during which other jobs took more than this share
	// of a CPU (%), or another sensor ran, is run again, up to busyRetries
	// times; 0 turns it off.
	busyLimit   float64
	busyRetries int
	// receiverGOGC: the garbage collector settings (GOGC) of the receiver,
	// each a run of its own; 100 is Go's default.
	receiverGOGC []int
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("throughput", flag.ContinueOnError)
	var o options
	var rates, trans, cfgs, sensors, gogc string
	fs.StringVar(&sensors, "sensor", "bin/otel-sensor", "the sensor binary; or a comma-separated list of `LABEL=PATH` builds to compare, run in turn within every repeat (each label prefixes the config in the report)")
	fs.StringVar(&rates, "rates", "50k,100k,150k,max", "target workload rates in events/s (k = 1000); max: unthrottled")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long the workload runs at each rate")
	fs.IntVar(&o.repeat, "repeat", 3, "runs of every rate; the report gives medians")
	fs.StringVar(&trans, "transports", "grpc,http/protobuf", "where the events go: grpc, http/protobuf (OTLP to the receiver), file (OTLP JSON lines to a file), none (OTEL_LOGS_EXPORTER=none), discard (OTLP/HTTP to a server that answers without decoding); metrics always go to the receiver over OTLP")
	fs.StringVar(&cfgs, "configs", "default,tuned", "sensor settings: default (the sensor's own), tuned (export.max_batch 2048, export.queue_size 32768), persistent (the persistent queue on)")
	fs.DurationVar(&o.drain, "drain", 30*time.Second, "longest wait after the workload for the records still on their way")
	fs.DurationVar(&o.settle, "settle", time.Second, "pause between the sensor's start and the workload")
	fs.StringVar(&o.perfDir, "perf", "", "record `DIR`/run-N.data with perf record -g on the sensor during each workload")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (output files of the file transport)")
	fs.Float64Var(&o.busyLimit, "busy-limit", 0, "run a run again when other jobs took more than this `PERCENT` of a CPU during its workload, or another otel-sensor ran (0: never)")
	fs.StringVar(&gogc, "receiver-gogc", "100", "the receiver's garbage collector setting (GOGC, a percentage; 100 is Go's default); a comma-separated list runs each in turn and labels the config with it")
	fs.IntVar(&o.busyRetries, "busy-retries", 3, "how many times a busy run is run again at most (with -busy-limit)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if o.sensors, err = parseSensors(sensors); err != nil {
		return o, err
	}
	if o.rates, err = parseRates(rates); err != nil {
		return o, err
	}
	if o.transports, err = parseList(trans, "transport", transports); err != nil {
		return o, err
	}
	if o.receiverGOGC, err = parseGOGC(gogc); err != nil {
		return o, err
	}
	names := make([]string, 0, len(configs))
	for n := range configs {
		names = append(names, n)
	}
	if o.configs, err = parseList(cfgs, "config", names); err != nil {
		return o, err
	}
	switch {
	case o.repeat < 1:
		return o, errors.New("-repeat must be at least 1")
	case o.duration < 100*time.Millisecond:
		return o, errors.New("-duration must be at least 100ms")
	}
	return o, nil
}

// sensorBin is a sensor binary under test; label is empty when there is
// only one.
type sensorBin struct {
	label, path string
}

// parseSensors reads -sensor: one path, or LABEL=PATH,... to compare
// builds.
func parseSensors(s string) ([]sensorBin, error) {
	if !strings.Contains(s, "=") {
		if strings.TrimSpace(s) == "" {
			return nil, errors.New("-sensor: empty")
		}
		return []sensorBin{{path: s}}, nil
	}
	var out []sensorBin
	seen := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		label, path, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok || label == "" || path == "" || strings.ContainsAny(label, "/|") {
			return nil, fmt.Errorf("-sensor: %q is not LABEL=PATH", f)
		}
		if seen[label] {
			return nil, fmt.Errorf("-sensor: label %q given twice", label)
		}
		seen[label] = true
		out = append(out, sensorBin{label: label, path: path})
	}
	return out, nil
}

// parseRates reads a comma-separated list of rates: integers, optionally
// with a k suffix (thousands), or max (0).
func parseRates(s string) ([]float64, error) {
	var rates []float64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "max" {
			rates = append(rates, 0)
			continue
		}
		mult := 1.0
		if n, ok := strings.CutSuffix(f, "k"); ok {
			f, mult = n, 1000
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 || v*mult > 1e8 {
			return nil, fmt.Errorf("-rates: %q is not a rate (a positive number of events/s, 100k, or max)", f)
		}
		rates = append(rates, v*mult)
	}
	return rates, nil
}

// parseGOGC reads -receiver-gogc: percentages from 10 to 10000.
func parseGOGC(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 10 || v > 10000 {
			return nil, fmt.Errorf("-receiver-gogc: %q is not a percentage from 10 to 10000", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseList(s, what string, allowed []string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		ok := false
		for _, a := range allowed {
			ok = ok || a == f
		}
		if !ok {
			return nil, fmt.Errorf("unknown %s %q (one of %s)", what, f, strings.Join(allowed, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

func rateLabel(r float64) string {
	if r == 0 {
		return "max"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

func run(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "throughput:", err)
		return 2
	}
	for _, sb := range o.sensors {
		if _, err := os.Stat(sb.path); err != nil {
			fmt.Fprintf(os.Stderr, "throughput: sensor binary: %v (make build)\n", err)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "otel-sensor-throughput-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "throughput:", err)
		return 1
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if o.perfDir != "" {
		if err := os.MkdirAll(o.perfDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "throughput:", err)
			return 1
		}
	}

	b := &bench{opts: o, tmp: tmp}
	var results []runResult
	n := 0
	for rep := range o.repeat {
		for _, cfg := range o.configs {
			for _, tr := range o.transports {
				// Rotate the order of the rates every repeat, so that no
				// rate always runs first or after the heaviest one.
				for i := range o.rates {
					rate := o.rates[(i+rep)%len(o.rates)]
					// Builds and receiver settings in turn, their order
					// rotated too: each pair of runs sees the same
					// machine.
					for j := range len(o.sensors) * len(o.receiverGOGC) {
						k := (j + rep + i) % (len(o.sensors) * len(o.receiverGOGC))
						sb := o.sensors[k%len(o.sensors)]
						gogc := o.receiverGOGC[k/len(o.sensors)]
						if ctx.Err() != nil {
							fmt.Fprintln(os.Stderr, "throughput: interrupted")
							return 1
						}
						var res runResult
						for try := 0; ; try++ {
							n++
							var err error
							res, err = b.runOne(ctx, runSpec{n: n, repeat: rep + 1, sensor: sb, config: cfg, transport: tr, rate: rate, receiverGOGC: gogc})
							if err != nil {
								fmt.Fprintf(os.Stderr, "throughput: run %d (%s, %s, %s, %s/s): %v\n", n, sb.path, cfg, tr, rateLabel(rate), err)
								return 1
							}
							res.Retries = try
							fmt.Fprintln(os.Stderr, res.line())
							if !o.busy(res) || try >= o.busyRetries || ctx.Err() != nil {
								break
							}
							fmt.Fprintf(os.Stderr, "throughput: other jobs took %.0f%% of a CPU and %d other sensors ran: running it again\n",
								share(res.foreignCPU(), res.LoadWall), res.Others)
						}
						results = append(results, res)
					}
				}
			}
		}
	}
	b.report(os.Stdout, results)
	return 0
}

// busy says whether other jobs disturbed a run more than -busy-limit
// allows.
func (o options) busy(r runResult) bool {
	return o.busyLimit > 0 && (share(r.foreignCPU(), r.LoadWall) > o.busyLimit || r.Others > 0)
}

type bench struct {
	opts options
	tmp  string
}

type runSpec struct {
	n, repeat         int
	sensor            sensorBin
	config, transport string
	rate              float64
	receiverGOGC      int
}

// runOne runs the sensor, the receiver and the workload once.
func (b *bench) runOne(ctx context.Context, spec runSpec) (runResult, error) {
	label := spec.config
	if spec.sensor.label != "" {
		label = spec.sensor.label + "/" + spec.config
	}
	if len(b.opts.receiverGOGC) > 1 || spec.receiverGOGC != 100 {
		label += fmt.Sprintf(", receiver GOGC=%d", spec.receiverGOGC)
	}
	res := runResult{Config: label, Transport: spec.transport, Rate: spec.rate, Repeat: spec.repeat, Received: -1}
	dir := filepath.Join(b.tmp, fmt.Sprintf("run-%d", spec.n))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		return res, err
	}

	// The receiver runs in this process: its garbage collector is the
	// harness's.
	debug.SetGCPercent(spec.receiverGOGC)
	recv, err := startReceiver(target)
	if err != nil {
		return res, err
	}
	defer recv.stop()

	env := []string{
		"OTEL_SENSOR_FILE__OPENS=all",
		// A health socket of its own: another sensor may be running.
		"OTEL_SENSOR_HEALTH__SOCKET=" + filepath.Join(dir, "health", "health.sock"),
		"OTEL_METRICS_EXPORTER=otlp",
	}
	var args []string
	output := ""
	var discard *discardServer
	switch spec.transport {
	case "grpc":
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+recv.GRPCEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_LOGS_EXPORTER=otlp")
	case "http/protobuf":
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+recv.HTTPEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_LOGS_EXPORTER=otlp")
	case "file":
		output = filepath.Join(b.tmp, fmt.Sprintf("run-%d.jsonl", spec.n))
		args = append(args, "--output", output)
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+recv.GRPCEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_LOGS_EXPORTER=console")
	case "none":
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+recv.GRPCEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_LOGS_EXPORTER=none")
	case "discard":
		d, err := startDiscard()
		if err != nil {
			return res, err
		}
		defer d.stop()
		discard = d
		env = append(env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="+d.logsURL(), "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=http/protobuf",
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="+recv.GRPCEndpoint(), "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=grpc", "OTEL_LOGS_EXPORTER=otlp")
	}
	for _, kv := range configs[spec.config] {
		env = append(env, strings.ReplaceAll(kv, "{dir}", dir))
	}

	sensor, err := startSensor(spec.sensor.path, env, args...)
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			sensor.kill()
		}
	}()
	select {
	case <-time.After(b.opts.settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}

	w, err := startWorker(workerSpec{Path: target, Rate: spec.rate, Duration: b.opts.duration}, dir)
	if err != nil {
		return res, err
	}
	res.Others = otherSensors(sensor.pid)

	var perf *perfRecorder
	if b.opts.perfDir != "" {
		if perf, err = startPerf(sensor.pid, filepath.Join(b.opts.perfDir, fmt.Sprintf("run-%d.data", spec.n))); err != nil {
			w.kill()
			return res, err
		}
		time.Sleep(200 * time.Millisecond) // let perf attach
	}

	s0, err := readCPU(sensor.pid)
	if err != nil {
		w.kill()
		return res, err
	}
	h0, gc0 := selfCPU(), gcCycles()
	m0, err := readMachineCPU()
	if err != nil {
		w.kill()
		return res, err
	}
	t0 := time.Now()
	if err := w.begin(); err != nil {
		w.kill()
		return res, err
	}
	wr, err := w.result()
	t1 := time.Now()
	s1, _ := readCPU(sensor.pid)
	h1, gc1 := selfCPU(), gcCycles()
	m1, _ := readMachineCPU()
	if perf != nil {
		perf.stop()
	}
	if err != nil {
		return res, err
	}
	res.Produced = wr.Opens
	res.WorkloadElapsed = time.Duration(wr.ElapsedNS)
	res.WorkloadCPU = time.Duration(wr.CPUNS)

	// Wait for what is still on its way: until the receiver has every
	// record or none arrived for idleStop (OTLP), or the sensor is idle
	// (file, none, discard), or the deadline.
	deadline := t1.Add(b.opts.drain)
	otlp := spec.transport == "grpc" || spec.transport == "http/protobuf"
	prev := s1
	lastCount, lastProgress := recv.matched.Load(), time.Now()
	for time.Now().Before(deadline) {
		if otlp {
			n := recv.matched.Load()
			if n >= res.Produced {
				break
			}
			if n != lastCount {
				lastCount, lastProgress = n, time.Now()
			} else if time.Since(lastProgress) > idleStop {
				break
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		time.Sleep(250 * time.Millisecond)
		cur, err := readCPU(sensor.pid)
		if err != nil {
			break
		}
		if cur.Sub(prev).Total() <= clockTick {
			break
		}
		prev = cur
	}
	t2 := time.Now()
	s2, _ := readCPU(sensor.pid)
	h2 := selfCPU()
	res.HWM, _ = readStatusKB(sensor.pid, "VmHWM")
	res.Warnings = sensor.warnings()

	stopped = true
	res.StopTook, err = sensor.stop(20 * time.Second)
	if err != nil {
		return res, err
	}
	res.PeakRSS = sensor.peakRSS()
	if n := otherSensors(-1); n > res.Others {
		res.Others = n
	}

	res.LoadWall, res.AllWall = t1.Sub(t0), t2.Sub(t0)
	res.SensorLoad, res.SensorAll = s1.Sub(s0), s2.Sub(s0)
	res.HarnessLoad, res.HarnessAll = h1-h0, h2-h0
	res.HarnessGCs = gc1 - gc0
	res.Machine = m1.Sub(m0)
	res.TotalRecords = recv.total.Load()
	res.Counts = recv.lastCounts()
	switch {
	case otlp:
		res.Received = recv.matched.Load()
		if last := recv.lastMatch.Load(); last > 0 && res.Received > 0 {
			res.LastRecord = time.Unix(0, last).Sub(t0)
		}
		res.Drain = max(res.LastRecord-res.LoadWall, 0)
	case spec.transport == "file":
		res.Received, res.TotalRecords, err = countInFile(output, target)
		if err != nil {
			return res, err
		}
		if !b.opts.keep {
			os.Remove(output)
		}
		res.Drain = t2.Sub(t1)
	default:
		res.Drain = t2.Sub(t1)
	}
	if discard != nil {
		res.Requests, res.Bytes = discard.requests.Load(), discard.bytes.Load()
	}
	if !res.Counts.Found {
		return res, fmt.Errorf("no metrics with sensor.events arrived at the receiver: drops unknown")
	}
	return res, nil
}

// idleStop ends the wait for records when none arrived for this long:
// the missing ones were dropped.
const idleStop = 2 * time.Second

// gcCycles is how many garbage collections this process (the receiver's)
// has completed.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return rusageCPU(ru)
}
