package export

import (
	"bytes"
	"math/rand/v2"
	"path"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// edgeCases are events beyond the golden cases that exercise the corners of
// the attribute list: names put twice, removals, unknown times, modes.
func edgeCases() []*event.Event {
	proc := event.Process{PID: 9, ParentPID: 1, StartTime: startTime, ExecutablePath: "/bin/x", Credentials: testCredentials(5, 6), LoginUID: 5, Comm: "x"}
	return []*event.Event{
		// Credentials, file and network sections together: the
		// sensor.syscall.* names are put up to three times.
		{Kind: event.KindCredentialsChange, Time: eventTime, Process: proc,
			Credentials: &event.CredentialsChange{Previous: *testCredentials(1, 1), SyscallID: 105, SyscallName: "setuid"},
			File:        &event.File{Path: "/a/b", OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 2, SyscallName: "open\xff"},
			Network:     &event.Network{Transport: "tcp", Type: "ipv4", LocalAddress: "1.2.3.4", SyscallID: 42, SyscallName: "connect"}},
		// File and network: syscall id put twice, name once each.
		{Kind: event.KindFileOpen, Process: proc,
			File:    &event.File{Path: "/x/./y//z", Flags: 0o101, OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 257},
			Network: &event.Network{Protocol: 132, SyscallID: 42, SyscallName: "connect"}},
		// Removals of names present (the last attribute takes the place)
		// and absent, and of sensor.truncated itself.
		{Kind: event.KindExec, Time: eventTime, Observed: observedTime, Process: proc,
			Exec:       &event.Exec{Args: []string{"a"}, ArgsCount: 1, WorkingDirectory: "/w", Interactive: true, TTY: "pts/1"},
			Truncated:  []string{"process.command_args"},
			Incomplete: []string{"process.pid", "process.interactive", "no.such.name", "sensor.truncated"}},
		// Modes: short, setuid, wide; chown with both ids.
		{Kind: event.KindFileMkdir, Process: proc, File: &event.File{Path: "/d", Mode: 0, HasMode: true, OwnerID: event.NoID, GroupID: event.NoID}},
		{Kind: event.KindFileChmod, Process: proc, File: &event.File{Path: "/d", Mode: 0o7, HasMode: true, OwnerID: event.NoID, GroupID: event.NoID}},
		{Kind: event.KindFileChmod, Process: proc, File: &event.File{Path: "/d", Mode: 0o104755, HasMode: true, OwnerID: event.NoID, GroupID: event.NoID}},
		{Kind: event.KindFileChown, Process: proc, File: &event.File{Path: "rel", OwnerID: 0, GroupID: 4294967294}},
		// Paths whose directory needs cleaning, a root path, a trailing
		// slash, invalid bytes in the file name.
		{Kind: event.KindFileDelete, Process: proc, File: &event.File{Path: "/", Directory: true, OwnerID: event.NoID, GroupID: event.NoID}},
		{Kind: event.KindFileDelete, Process: proc, File: &event.File{Path: "/a/b/", OwnerID: event.NoID, GroupID: event.NoID}},
		{Kind: event.KindFileRename, Process: proc, File: &event.File{Path: "/a/../b/\xffc", PreviousPath: "/a/\xfe", NoReplace: true, OwnerID: event.NoID, GroupID: event.NoID}},
		{Kind: event.KindFileLink, Process: proc, File: &event.File{Path: "/l", SourcePath: "/s", Errno: 17, OwnerID: event.NoID, GroupID: event.NoID}},
		// A file.open with other flags after one with the same shape.
		{Kind: event.KindFileOpen, Time: eventTime, Process: proc, File: &event.File{Path: "/etc/passwd", Flags: 0o2000000, OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 257, SyscallName: "openat"}},
		{Kind: event.KindFileOpen, Time: eventTime, Process: proc, File: &event.File{Path: "/etc/group", Flags: 0o2001101, Created: true, OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 257, SyscallName: "openat"}},
		// Exec with invalid arguments, then one with valid arguments of
		// the same count.
		{Kind: event.KindExec, Process: proc, Exec: &event.Exec{Args: []string{"\xff", "b"}, ArgsCount: 2}},
		{Kind: event.KindExec, Process: proc, Exec: &event.Exec{Args: []string{"a", "b"}, ArgsCount: 2}},
		// Nothing known at all.
		{},
		{Kind: event.KindExit, Exit: &event.Exit{Code: -1}},
	}
}

func allTestEvents() []*event.Event {
	var evs []*event.Event
	for _, c := range mappingCases() {
		evs = append(evs, c.ev)
	}
	evs = append(evs, edgeCases()...)
	return append(evs, fileOpenBatch(8)...)
}

func logsJSONBytes(t testing.TB, ld plog.Logs) []byte {
	t.Helper()
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// freshLogs maps every event with a mapper and a record of its own: no
// value remembered from an earlier event, no record reused. What the
// mapping writes for each event is pinned by the golden files
// (TestMappingGolden) and logs_test.go; this is the oracle of the tests
// of what the pipeline reuses.
func freshLogs(res Resource, events []*event.Event) plog.Logs {
	b := newLogsBatch()
	b.setResource(&res)
	for _, ev := range events {
		var m eventMapper
		b.add(ev, m.mapAttrs(ev), 0)
	}
	return b.finish()
}

// One mapper over a stream of events (remembering the last process's
// values) writes what a fresh mapper writes for each.
func TestMapperMemoMatchesFresh(t *testing.T) {
	evs := allTestEvents()
	// Each event twice in a row, then the stream again: the memo hits,
	// then misses on every change of process.
	stream := make([]*event.Event, 0, 3*len(evs))
	for _, ev := range evs {
		stream = append(stream, ev, ev)
	}
	stream = append(stream, evs...)
	got := logsJSONBytes(t, NewLogs(testResource, stream))
	want := logsJSONBytes(t, freshLogs(testResource, stream))
	if !bytes.Equal(got, want) {
		t.Errorf("a mapper over the stream differs from fresh mappers:\n got %s\nwant %s", got, want)
	}
}

// A reused batch writes what a fresh mapping writes, whatever the previous
// batches held: records overwritten in place, rebuilt when their shape
// changed, removed when the batch is smaller.
func TestBatchReuseMatchesFresh(t *testing.T) {
	evs := allTestEvents()
	rng := rand.New(rand.NewPCG(1, 2))
	var m eventMapper
	b := newLogsBatch()
	res := testResource
	other := Resource{Version: "v2", Attributes: []Attribute{{"service.name", "other"}, {"host.name", "h\xff"}}}
	for round := range 300 {
		// Mostly the same events in the same order (the overwrite path),
		// sometimes shuffled, shorter, longer, or another resource.
		n := 1 + rng.IntN(2*len(evs))
		batch := make([]*event.Event, n)
		for i := range batch {
			switch {
			case round%3 == 0:
				batch[i] = evs[rng.IntN(len(evs))]
			default:
				batch[i] = evs[i%len(evs)]
			}
		}
		r := &res
		if round%7 == 3 {
			r = &other
		}
		b.reset()
		b.setResource(r)
		for _, ev := range batch {
			l := m.mapAttrs(ev)
			b.add(ev, l, recordSize(ev, l))
		}
		if b.len() != n || len(b.kinds) != n {
			t.Fatalf("round %d: batch holds %d records, %d kinds, want %d", round, b.len(), len(b.kinds), n)
		}
		got := logsJSONBytes(t, b.finish())
		want := logsJSONBytes(t, freshLogs(*r, batch))
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: the reused batch differs from a fresh mapping:\n got %s\nwant %s", round, got, want)
		}
		if size, actual := b.size(), (&plog.ProtoMarshaler{}).LogsSize(b.ld); size < actual {
			t.Fatalf("round %d: size bound %d below the actual %d bytes", round, size, actual)
		}
	}
}

// recordSize bounds a record's protobuf size from above, within a few
// bytes: the batch bound is meant to be the size of the request.
func TestRecordSizeBound(t *testing.T) {
	var m eventMapper
	var pm plog.ProtoMarshaler
	for i, ev := range allTestEvents() {
		l := m.mapAttrs(ev)
		bound := recordSize(ev, l)
		ld := NewLogs(testResource, []*event.Event{ev})
		actual := pm.LogRecordSize(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0))
		// The bound counts the record's frame in the scope, and the
		// timestamps when unset.
		if bound < actual || bound > actual+3+18 {
			t.Errorf("event %d (%s): bound %d for %d bytes", i, ev.Kind.Name(), bound, actual)
		}
	}
	evs := fileOpenBatch(DefaultMaxBatch)
	b := newLogsBatch()
	b.setResource(&testResource)
	for _, ev := range evs {
		l := m.mapAttrs(ev)
		b.add(ev, l, recordSize(ev, l))
	}
	actual := pm.LogsSize(b.finish())
	if b.size() < actual || b.size() > actual+64 {
		t.Errorf("batch of %d file.open: bound %d for %d bytes", len(evs), b.size(), actual)
	}
}

// FuzzMappingMatchesFresh maps arbitrary strings and numbers through a
// reused batch and mapper and checks the result against fresh ones.
func FuzzMappingMatchesFresh(f *testing.F) {
	f.Add("/usr/bin/ls", "/tmp/a b/c", "ls", "-la", uint32(0o2000000), int64(1), false)
	f.Add("/tmp/\xff\xfe", "rel/\xc3\x28", "\xed\xa0\x80", "", uint32(0o101), int64(0), true)
	f.Add("", "/", "", "日本", uint32(3), int64(-5), true)
	f.Fuzz(func(t *testing.T, exe, filePath, arg0, arg1 string, flags uint32, num int64, truncated bool) {
		proc := event.Process{PID: uint32(num), ParentPID: uint32(num >> 8), ExecutablePath: exe, Comm: arg0, CgroupPath: arg1,
			StartTime: time.Unix(0, num).UTC(), Credentials: testCredentials(uint32(num), 0), LoginUID: uint32(flags)}
		evs := []*event.Event{
			{Kind: event.KindFileOpen, Time: eventTime, Process: proc,
				File: &event.File{Path: filePath, Flags: flags, Access: event.Access(flags % 3), Mode: flags, HasMode: truncated, OwnerID: event.NoID, GroupID: event.NoID, SyscallName: arg1}},
			{Kind: event.KindExec, Process: proc, Exec: &event.Exec{Args: []string{arg0, arg1}, ArgsCount: int(num % 4), WorkingDirectory: filePath, TTY: arg1}},
			{Kind: event.KindNetworkConnect, Process: proc, Network: &event.Network{Transport: arg0, Type: arg1, LocalAddress: exe, PeerAddress: filePath, PeerPort: int(num)}},
			{Kind: event.KindFileRename, Process: proc, File: &event.File{Path: filePath, PreviousPath: exe, OwnerID: event.NoID, GroupID: event.NoID},
				Network: &event.Network{SyscallID: int(num), SyscallName: arg0}},
		}
		if truncated {
			for _, ev := range evs {
				ev.Truncated = []string{event.AttrExecutablePath, arg0}
				ev.Incomplete = []string{arg1, "process.pid"}
			}
		}
		var m eventMapper
		b := newLogsBatch()
		for range 2 { // the second time over reused records
			b.reset()
			b.setResource(&testResource)
			for _, ev := range evs {
				l := m.mapAttrs(ev)
				b.add(ev, l, recordSize(ev, l))
			}
			got := logsJSONBytes(t, b.finish())
			want := logsJSONBytes(t, freshLogs(testResource, evs))
			if !bytes.Equal(got, want) {
				t.Fatalf("mapping differs from fresh mappers:\n got %s\nwant %s", got, want)
			}
			if size, actual := b.size(), (&plog.ProtoMarshaler{}).LogsSize(b.ld); size < actual {
				t.Fatalf("size bound %d below the actual %d bytes", size, actual)
			}
		}
	})
}

// cleanDir is path.Clean for the directory of every absolute path made of
// ordinary, empty, dot and dot-dot elements.
func TestCleanDir(t *testing.T) {
	elems := []string{"a", "", ".", "..", ".x", "x.", "...", "b c"}
	var paths []string
	var build func(prefix string, depth int)
	build = func(prefix string, depth int) {
		paths = append(paths, prefix)
		if depth == 0 {
			return
		}
		for _, e := range elems {
			build(prefix+e+"/", depth-1)
		}
	}
	build("/", 4)
	for _, p := range paths {
		for _, name := range []string{"f", ""} {
			dir, _ := path.Split(p + name)
			if got, want := cleanDir(dir), path.Clean(dir); got != want {
				t.Fatalf("cleanDir(%q) = %q, want %q", dir, got, want)
			}
		}
	}
}
