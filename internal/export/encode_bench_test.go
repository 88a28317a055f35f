package export

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"runtime"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// The benchmarks below measure the per-record cost of what the pipeline does
// with a batch: map the events to pdata (mapBatch), then encode them as the
// JSON-lines exporter does (OTLP JSON, written to a bufio.Writer) or as the
// OTLP exporters do (an ExportLogsServiceRequest in protobuf). They report
// ns/record and allocs/record besides the per-batch figures, so runs with
// different batch sizes compare. Run them with
//
//	go test ./internal/export/ -run XXX -bench 'Encode|Map' -benchmem -count 6

// benchMapper maps a batch the way the pipeline does: one eventMapper and a
// reused logsBatch.
type benchMapper struct {
	m   eventMapper
	b   *logsBatch
	res *Resource
}

func newBenchMapper() *benchMapper { return &benchMapper{b: newLogsBatch()} }

func (bm *benchMapper) mapBatch(res Resource, evs []*event.Event) plog.Logs {
	if bm.res == nil {
		bm.res = &res
	}
	bm.b.reset()
	bm.b.setResource(bm.res)
	for _, ev := range evs {
		l := bm.m.mapAttrs(ev)
		bm.b.add(ev, l, recordSize(ev, l))
	}
	return bm.b.finish()
}

// benchBatch is the pipeline's default batch size.
const benchBatch = DefaultMaxBatch

// fileOpenBatch is n file.open events as the eBPF provider delivers them in
// bench/throughput: a few processes (their strings shared from the process
// cache), each opening files in a directory, the times advancing.
func fileOpenBatch(n int) []*event.Event {
	var procs []event.Process
	for i := range 4 {
		procs = append(procs, event.Process{
			PID: uint32(31000 + i), ParentPID: 30990, StartTime: startTime,
			ExecutablePath:       "/tmp/go-build3194520157/b001/exe/throughput",
			ParentExecutablePath: "/tmp/go-build3194520157/b001/exe/throughput",
			Credentials:          testCredentials(0, 0),
			LoginUID:             0,
			CgroupPath:           "/user.slice/user-0.slice/session-4.scope",
			Comm:                 "throughput",
		})
	}
	files := []*event.File{}
	for i := range 8 {
		files = append(files, &event.File{
			Path:   fmt.Sprintf("/tmp/otel-sensor-throughput-3361044172/run-%d/target", i),
			Access: event.AccessRead, Flags: 0o2100000, OwnerID: event.NoID, GroupID: event.NoID,
			SyscallID: 257, SyscallName: "openat",
		})
	}
	evs := make([]*event.Event, n)
	for i := range evs {
		f := *files[i%len(files)]
		t := eventTime.Add(time.Duration(i) * 7919 * time.Nanosecond)
		evs[i] = &event.Event{
			Kind: event.KindFileOpen, Time: t, Observed: t.Add(40 * time.Microsecond),
			Process: procs[(i/64)%len(procs)],
			File:    &f,
		}
	}
	return evs
}

// mixedBatch cycles through the golden mapping cases: exec, exit, fork,
// credentials, file and network events, some with invalid UTF-8.
func mixedBatch(n int) []*event.Event {
	cases := mappingCases()
	evs := make([]*event.Event, n)
	for i := range evs {
		ev := *cases[i%len(cases)].ev
		evs[i] = &ev
	}
	return evs
}

var benchBatches = []struct {
	name string
	evs  func(int) []*event.Event
}{
	{"file_open", fileOpenBatch},
	{"mixed", mixedBatch},
}

// perRecord reports the per-record figures of a benchmark that handles
// records records per op; mallocs is runtime.MemStats.Mallocs before the
// loop.
func perRecord(b *testing.B, records int, mallocs uint64) {
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := float64(b.N) * float64(records)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
	b.ReportMetric(float64(ms.Mallocs-mallocs)/n, "allocs/record")
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// BenchmarkMap maps a batch to pdata.
func BenchmarkMap(b *testing.B) {
	for _, bb := range benchBatches {
		b.Run(bb.name, func(b *testing.B) {
			evs := bb.evs(benchBatch)
			m := newBenchMapper()
			b.ReportAllocs()
			before := mallocs()
			for b.Loop() {
				m.mapBatch(testResource, evs)
			}
			perRecord(b, len(evs), before)
		})
	}
}

// BenchmarkMapWhileMarking is BenchmarkMap/file_open with the garbage
// collector marking nearly all the time, as it does in the sensor, whose
// heap is small and whose provider allocates every event: a goroutine
// calls runtime.GC over a live heap of 16 MiB. While it marks, every
// pointer written goes through the write barrier, which the mapping
// avoids by not rewriting strings that did not change. The collector
// takes the other CPU: compare runs on the same machine only.
func BenchmarkMapWhileMarking(b *testing.B) {
	live := make([]*[64]byte, 1<<18)
	for i := range live {
		live[i] = new([64]byte)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	evs := fileOpenBatch(benchBatch)
	m := newBenchMapper()
	before := mallocs()
	for b.Loop() {
		m.mapBatch(testResource, evs)
	}
	perRecord(b, len(evs), before)
	close(stop)
	<-done
	runtime.KeepAlive(live)
}

// BenchmarkEncodeJSON maps a batch and writes it as one OTLP JSON line, as
// the stdout/file exporter does.
func BenchmarkEncodeJSON(b *testing.B) {
	for _, bb := range benchBatches {
		b.Run(bb.name, func(b *testing.B) {
			evs := bb.evs(benchBatch)
			m := newBenchMapper()
			exp := NewJSONLines(io.Discard)
			ctx := context.Background()
			b.ReportAllocs()
			before := mallocs()
			for b.Loop() {
				if err := exp.ExportLogs(ctx, m.mapBatch(testResource, evs)); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b, len(evs), before)
		})
	}
}

// BenchmarkEncodeProto maps a batch and encodes it as the OTLP exporters
// do: an ExportLogsServiceRequest in protobuf.
func BenchmarkEncodeProto(b *testing.B) {
	for _, bb := range benchBatches {
		b.Run(bb.name, func(b *testing.B) {
			evs := bb.evs(benchBatch)
			m := newBenchMapper()
			b.ReportAllocs()
			before := mallocs()
			var size int
			for b.Loop() {
				req := plogotlp.NewExportRequestFromLogs(m.mapBatch(testResource, evs))
				buf, err := req.MarshalProto()
				if err != nil {
					b.Fatal(err)
				}
				size = len(buf)
			}
			perRecord(b, len(evs), before)
			b.ReportMetric(float64(size)/float64(len(evs)), "bytes/record")
		})
	}
}
