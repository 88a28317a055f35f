package netlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/probes"
	"github.com/otel-sensor/otel-sensor/internal/proc"
)

// fakeKernel plays the proc connector behind an nltest socket: it answers
// listen requests as a kernel of a given generation does and delivers the
// messages a test sends.
type fakeKernel struct {
	// ackFiltered and ackPlain make it acknowledge a filtered (6.6+) or
	// a plain listen request; ackErr is the error number it answers.
	ackFiltered, ackPlain bool
	ackErr                uint32

	mu       sync.Mutex
	requests [][]byte // listen payloads received
	deadline time.Time

	deliver chan []byte   // message payloads to deliver, one per datagram
	batch   chan [][]byte // message payloads to deliver in one datagram
	fail    chan error    // receive errors to return
	wake    chan struct{} // the deadline changed
	closed  chan struct{}
	once    sync.Once
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{
		deliver: make(chan []byte, 64),
		batch:   make(chan [][]byte, 1),
		fail:    make(chan error, 1),
		wake:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
	}
}

// fn is the nltest.Func: a request is a listen message; an empty request
// is a receive.
func (k *fakeKernel) fn(req []netlink.Message) ([]netlink.Message, error) {
	if req != nil {
		return k.request(req[0].Data), nil
	}
	for {
		k.mu.Lock()
		d := k.deadline
		k.mu.Unlock()
		var timeout <-chan time.Time
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case b := <-k.deliver:
			return []netlink.Message{{Header: netlink.Header{Type: netlink.Done}, Data: b}}, nil
		case bs := <-k.batch:
			msgs := make([]netlink.Message, len(bs))
			for i, b := range bs {
				msgs[i] = netlink.Message{Header: netlink.Header{Type: netlink.Done}, Data: b}
			}
			return msgs, nil
		case err := <-k.fail:
			return nil, err
		case <-k.closed:
			return nil, os.ErrClosed
		case <-timeout:
			return nil, os.ErrDeadlineExceeded
		case <-k.wake:
		}
	}
}

func (k *fakeKernel) request(b []byte) []netlink.Message {
	k.mu.Lock()
	k.requests = append(k.requests, slices.Clone(b))
	k.mu.Unlock()
	le := binary.LittleEndian
	n := le.Uint16(b[16:])
	if (n == 8 && !k.ackFiltered) || (n == 4 && !k.ackPlain) {
		return nil // ignored, as an older kernel ignores a proc_input
	}
	if n == 8 && le.Uint32(b[cnMsgSize+4:]) != procEventAll {
		return nil // the filter lets no acknowledgement through
	}
	ack := msg(procEventNone, 0, 0, le.Uint32(b[12:])+1, k.ackErr)
	return []netlink.Message{{Header: netlink.Header{Type: netlink.Done}, Data: ack}}
}

// conn is what the provider dials: the nltest socket with deadlines and a
// Close that wakes a pending receive, as the real socket's do.
func (k *fakeKernel) conn() conn { return &fakeConn{Conn: nltest.Dial(k.fn), k: k} }

type fakeConn struct {
	*netlink.Conn
	k *fakeKernel
}

func (c *fakeConn) SetReadDeadline(t time.Time) error {
	c.k.mu.Lock()
	c.k.deadline = t
	c.k.mu.Unlock()
	select {
	case c.k.wake <- struct{}{}:
	default:
	}
	return nil
}

func (c *fakeConn) Close() error {
	c.k.once.Do(func() { close(c.k.closed) })
	return c.Conn.Close()
}

// msg builds a proc connector payload: a cn_msg and a proc_event with the
// given union words.
func msg(what uint32, mono uint64, seq, ack uint32, union ...uint32) []byte {
	b := make([]byte, cnMsgSize+procEventSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], cnIdxProc)
	le.PutUint32(b[4:], cnValProc)
	le.PutUint32(b[8:], seq)
	le.PutUint32(b[12:], ack)
	le.PutUint16(b[16:], procEventSize)
	ev := b[cnMsgSize:]
	le.PutUint32(ev[0:], what)
	le.PutUint64(ev[8:], mono)
	for i, w := range union {
		le.PutUint32(ev[procEventHeaderSize+4*i:], w)
	}
	return b
}

// fakeProc is a procfs tree in a temporary directory.
type fakeProc struct {
	t    *testing.T
	root string
}

// process writes root/<pid> as procfs shows a live process started at
// startBoot (CLOCK_BOOTTIME nanoseconds).
func (f fakeProc) process(pid, ppid uint32, startBoot uint64, exe, cwd string, uid uint32, args ...string) {
	f.t.Helper()
	dir := filepath.Join(f.root, fmt.Sprint(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	comm := filepath.Base(exe)
	files := map[string]string{
		// state ppid pgrp session tty_nr tpgid flags minflt cminflt
		// majflt cmajflt utime stime cutime cstime priority nice
		// num_threads itrealvalue starttime vsize
		"stat": fmt.Sprintf("%d (%s) S %d %d %d %d -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 %d 0\n",
			pid, comm, ppid, pid, pid, 136<<8|3, startBoot/tick),
		"status":   fmt.Sprintf("Name:\t%s\nTgid:\t%d\nUid:\t%d\t%d\t%d\t%d\nGid:\t0\t0\t0\t0\n", comm, pid, uid, uid, uid, uid),
		"cmdline":  strings.Join(args, "\x00") + "\x00",
		"cgroup":   "0::/test.slice\n",
		"loginuid": "1000",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"exe": exe, "cwd": cwd} {
		os.Remove(filepath.Join(dir, name))
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			f.t.Fatal(err)
		}
	}
}

// fakeProvider is a provider on a fake kernel and a fake procfs.
func fakeProvider(t *testing.T, k *fakeKernel) (*Provider, *collector, fakeProc) {
	t.Helper()
	fp := fakeProc{t: t, root: t.TempDir()}
	p := New(Options{IncludeSelf: true, Cache: proc.NewCache(proc.Options{ProcRoot: fp.root})})
	p.dial = func() (conn, error) { return k.conn(), nil }
	p.procs = newProcReader(fp.root)
	c := newCollector()
	if err := p.Start(context.Background(), c); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p, c, fp
}

func TestListen(t *testing.T) {
	le := binary.LittleEndian
	for _, tc := range []struct {
		name                  string
		ackFiltered, ackPlain bool
		ackErr                uint32
		filtered              bool
		events                []uint32 // event masks of the requests; 0 for the plain form
		err                   string
	}{
		{"6.6+", true, true, 0, true, []uint32{procEventAll, subscribed}, ""},
		{"older", false, true, 0, false, []uint32{procEventAll, 0}, ""},
		{"other namespace", false, false, 0, false, []uint32{procEventAll, 0}, "initial user and PID namespaces"},
		{"refused", false, true, uint32(unix.EPERM), false, []uint32{procEventAll, 0}, "operation not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel()
			k.ackFiltered, k.ackPlain, k.ackErr = tc.ackFiltered, tc.ackPlain, tc.ackErr
			p := New(Options{Cache: proc.NewCache(proc.Options{ProcRoot: t.TempDir()})})
			p.dial = func() (conn, error) { return k.conn(), nil }
			err := p.Start(context.Background(), newCollector())
			defer p.Close()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("start: %v, want an error about %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatalf("start: %v", err)
			}
			if tc.err == "" && p.Filtered() != tc.filtered {
				t.Errorf("filtered = %v, want %v", p.Filtered(), tc.filtered)
			}
			k.mu.Lock()
			defer k.mu.Unlock()
			if len(k.requests) != len(tc.events) {
				t.Fatalf("%d requests, want %d", len(k.requests), len(tc.events))
			}
			for i, want := range tc.events {
				r := k.requests[i]
				n := le.Uint16(r[16:])
				if le.Uint32(r[0:]) != cnIdxProc || le.Uint32(r[4:]) != cnValProc || le.Uint32(r[cnMsgSize:]) != mcastListen {
					t.Errorf("request %d = %x, not a listen request to the proc connector", i, r)
				}
				switch {
				case want == 0 && n != 4:
					t.Errorf("request %d: %d bytes, want the plain form", i, n)
				case want != 0 && (n != 8 || le.Uint32(r[cnMsgSize+4:]) != want):
					t.Errorf("request %d = %x, want events %#x", i, r, want)
				}
			}
		})
	}
}

// The provider against a fake socket: messages in, events out.
func TestFakeSocketEvents(t *testing.T) {
	k := newFakeKernel()
	k.ackFiltered = true
	p, c, fp := fakeProvider(t, k)
	now := monotonic()
	boot := p.clock.boot(now)
	started := boot - uint64(time.Second)

	fp.process(100, 1, started-uint64(time.Hour), "/usr/bin/parent", "/", 0, "parent")
	k.deliver <- msg(procEventFork, now, 1, 0, 100, 100, 200, 200)
	k.deliver <- msg(procEventFork, now, 2, 0, 100, 100, 201, 200) // a thread of 200
	fork := c.waitFor(t, "fork", is(event.KindFork, 200))
	if fork.Process.ParentPID != 100 || fork.Process.ExecutablePath != "/usr/bin/parent" || fork.Process.ParentExecutablePath != "/usr/bin/parent" {
		t.Errorf("fork = %+v", fork.Process)
	}
	if !fork.Time.Equal(p.clock.wall(boot)) || !fork.Process.StartTime.Equal(fork.Time) {
		t.Errorf("fork time %s start %s, want %s", fork.Time, fork.Process.StartTime, p.clock.wall(boot))
	}
	if cr := fork.Process.Credentials; cr == nil || cr.UID != 0 || len(fork.Incomplete) != 0 {
		t.Errorf("fork credentials %+v incomplete %v, want inherited", cr, fork.Incomplete)
	}

	// The exec of 200, read from /proc: /proc says it started a little
	// before its fork was reported (to the tick).
	fp.process(200, 100, boot-tick, "/usr/bin/child", "/work dir", 0, "child", "a b", "")
	k.deliver <- msg(procEventExec, now+1000, 3, 0, 200, 200)
	ex := c.waitFor(t, "exec", is(event.KindExec, 200))
	if ex.Process.ExecutablePath != "/usr/bin/child" || ex.Process.Comm != "child" || ex.Process.CgroupPath != "/test.slice" ||
		ex.Process.ParentPID != 100 || ex.Process.ParentExecutablePath != "/usr/bin/parent" || ex.Process.LoginUID != 1000 {
		t.Errorf("exec process = %+v", ex.Process)
	}
	if x := ex.Exec; x == nil || !slices.Equal(x.Args, []string{"child", "a b", ""}) || x.ArgsCount != 3 ||
		x.WorkingDirectory != "/work dir" || x.SessionLeaderPID != 200 || x.GroupLeaderPID != 200 || !x.Interactive || x.TTY != "pts/3" {
		t.Errorf("exec = %+v", ex.Exec)
	}
	if !ex.Process.StartTime.Equal(fork.Process.StartTime) || len(ex.Incomplete) != 0 {
		t.Errorf("exec start %s (fork's %s), incomplete %v", ex.Process.StartTime, fork.Process.StartTime, ex.Incomplete)
	}

	// A uid change: previous ids from the cache, new from the message and
	// /proc.
	fp.process(200, 100, boot-tick, "/usr/bin/child", "/work dir", 1000, "child")
	k.deliver <- msg(procEventUID, now+2000, 4, 0, 200, 200, 1000, 1000)
	cred := c.waitFor(t, "credentials change", is(event.KindCredentialsChange, 200))
	if cr := cred.Process.Credentials; cr == nil || cr.UID != 1000 || cr.EUID != 1000 || cr.SUID != 1000 || cr.FSUID != 1000 || cr.GID != 0 {
		t.Errorf("new ids %+v", cr)
	}
	if cred.Credentials == nil || cred.Credentials.Previous != (event.Credentials{}) || len(cred.Incomplete) != 0 {
		t.Errorf("previous %+v incomplete %v", cred.Credentials, cred.Incomplete)
	}

	// Exit by SIGKILL with a core dump, then a normal exit code.
	k.deliver <- msg(procEventExit, now+3000, 5, 0, 200, 200, 9|0x80, 17, 100, 100)
	exit := c.waitFor(t, "exit", is(event.KindExit, 200))
	if *exit.Exit != (event.Exit{Signal: 9, CoreDumped: true}) || exit.Process.ExecutablePath != "/usr/bin/child" ||
		exit.Process.Credentials == nil || exit.Process.Credentials.UID != 1000 || !exit.Process.StartTime.Equal(fork.Process.StartTime) {
		t.Errorf("exit %+v process %+v", *exit.Exit, exit.Process)
	}
	fp.process(300, 1, started, "/usr/bin/x", "/", 0, "x")
	k.deliver <- msg(procEventExit, now+4000, 6, 0, 300, 300, 3<<8, 17, 1, 1)
	if exit := c.waitFor(t, "exit", is(event.KindExit, 300)); *exit.Exit != (event.Exit{Code: 3}) {
		t.Errorf("exit %+v", *exit.Exit)
	}

	if n := len(c.all(func(ev *event.Event) bool { return ev.Process.PID == 201 })); n != 0 {
		t.Errorf("%d events of a thread", n)
	}
}

// An exec whose pid belongs, by the time /proc is read, to a process that
// started after the exec: nothing of that process is used.
func TestFakeSocketPidReused(t *testing.T) {
	k := newFakeKernel()
	k.ackFiltered = true
	p, c, fp := fakeProvider(t, k)
	now := monotonic()
	later := p.clock.boot(now) + uint64(time.Second)
	fp.process(400, 1, later, "/usr/bin/impostor", "/tmp", 0, "impostor", "secret")
	k.deliver <- msg(procEventExec, now, 1, 0, 400, 400)
	ev := c.waitFor(t, "exec", is(event.KindExec, 400))
	if ev.Process.ExecutablePath != "" || ev.Exec != nil || ev.Process.Credentials != nil || ev.Process.CgroupPath != "" || !ev.Process.StartTime.IsZero() {
		t.Errorf("exec of a reused pid carries %+v / %+v", ev.Process, ev.Exec)
	}
	for _, name := range []string{event.AttrExecutablePath, event.AttrCommandArgs, "process.args_count", "process.user.id", attrCreationTime, event.AttrCgroup} {
		if !slices.Contains(ev.Incomplete, name) {
			t.Errorf("incomplete = %v, want %s", ev.Incomplete, name)
		}
	}
}

// A process that execs again before its first exec is read: what /proc
// shows is the later program, and the first exec does not report it.
func TestFakeSocketExecAgain(t *testing.T) {
	k := newFakeKernel()
	k.ackFiltered = true
	p, c, fp := fakeProvider(t, k)
	now := monotonic()
	fp.process(500, 1, p.clock.boot(now)-uint64(time.Second), "/usr/bin/python3", "/", 0, "python3", "-c", "pass")
	k.batch <- [][]byte{msg(procEventExec, now, 1, 0, 500, 500), msg(procEventExec, now+1000, 2, 0, 500, 500)} // env, python3
	evs := c.waitForN(t, 2, is(event.KindExec, 500))
	first, second := evs[0], evs[1]
	if second.Process.ExecutablePath != "/usr/bin/python3" || !slices.Equal(second.Exec.Args, []string{"python3", "-c", "pass"}) {
		t.Errorf("second exec: %q %q", second.Process.ExecutablePath, second.Exec.Args)
	}
	if first.Process.ExecutablePath != "" || first.Exec == nil || first.Exec.Args != nil || first.Exec.ArgsCount != -1 ||
		!slices.Contains(first.Incomplete, event.AttrExecutablePath) || !slices.Contains(first.Incomplete, event.AttrCommandArgs) {
		t.Errorf("first exec: %+v %+v incomplete %v, want its program unknown", first.Process, first.Exec, first.Incomplete)
	}
}

// A setsid queued behind an exec: the session, group and terminal read from
// /proc may be the new ones, so they are not reported for the exec.
func TestFakeSocketSetsidAfterExec(t *testing.T) {
	k := newFakeKernel()
	k.ackFiltered = true
	p, c, fp := fakeProvider(t, k)
	now := monotonic()
	fp.process(510, 1, p.clock.boot(now)-uint64(time.Second), "/usr/sbin/daemon", "/", 0, "daemon")
	// One datagram: the setsid is queued before the exec is read.
	k.batch <- [][]byte{msg(procEventExec, now, 1, 0, 510, 510), msg(procEventSID, now+1000, 2, 0, 512, 510)} // by a thread of 510
	ev := c.waitFor(t, "exec", is(event.KindExec, 510))
	if ev.Exec == nil || ev.Exec.SessionLeaderPID != 0 || ev.Exec.GroupLeaderPID != 0 || ev.Exec.TTY != "" || ev.Exec.Interactive {
		t.Errorf("exec = %+v, want no session, group or terminal", ev.Exec)
	}
	for _, name := range []string{attrSessionLeader, attrGroupLeader, attrInteractive, attrTTY} {
		if !slices.Contains(ev.Incomplete, name) {
			t.Errorf("incomplete = %v, want %s", ev.Incomplete, name)
		}
	}
	if ev.Process.ExecutablePath != "/usr/sbin/daemon" || !slices.Equal(ev.Exec.Args, []string{"daemon"}) {
		t.Errorf("program %q args %q, want them kept", ev.Process.ExecutablePath, ev.Exec.Args)
	}
}

// settle holds an exec with the events of its process that follow, and
// marks them when the next exec came soon enough to have been read instead.
func TestSettle(t *testing.T) {
	const pid = 7
	newProvider := func() *Provider {
		p := New(Options{Cache: proc.NewCache(proc.Options{ProcRoot: t.TempDir()})})
		p.q = newQueue(4)
		return p
	}
	execEvent := func() *event.Event {
		return &event.Event{Kind: event.KindExec, Process: event.Process{PID: pid, ExecutablePath: "/usr/bin/env", Comm: "env"},
			Exec: &event.Exec{Args: []string{"env", "python3"}, ArgsCount: 2, WorkingDirectory: "/"}}
	}
	followers := func(p *Provider, now time.Time) []*event.Event {
		t.Helper()
		uid := &event.Event{Kind: event.KindCredentialsChange, Process: event.Process{PID: pid, ExecutablePath: "/usr/bin/env"}}
		fork := &event.Event{Kind: event.KindFork, Process: event.Process{PID: 8, ParentPID: pid, ExecutablePath: "/usr/bin/env"}}
		if out := p.settle(message{what: procEventUID, pid: pid, tgid: pid, time: 2000}, uid, 0, now); len(out) != 0 {
			t.Fatalf("uid change released %d events while its exec is held", len(out))
		}
		if out := p.settle(message{what: procEventFork, pid: 8, tgid: 8, parentTgid: pid, time: 3000}, fork, 0, now); len(out) != 0 {
			t.Fatalf("fork released %d events while its parent's exec is held", len(out))
		}
		return []*event.Event{uid, fork}
	}
	const readEnd = 10_000
	now := time.Now()

	for _, tc := range []struct {
		name   string
		next   uint64 // time of the next exec
		marked bool
	}{
		{"next exec before the read", readEnd - 1, true},
		{"next exec within the margin", readEnd + uint64(settleMargin) - 1, true},
		{"next exec after the margin", readEnd + uint64(settleMargin), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider()
			ex := execEvent()
			if out := p.settle(message{what: procEventExec, pid: pid, tgid: pid, time: 1000}, ex, readEnd, now); len(out) != 0 {
				t.Fatalf("exec released at once")
			}
			rest := followers(p, now)
			next := execEvent()
			out := p.settle(message{what: procEventExec, pid: pid, tgid: pid, time: tc.next}, next, readEnd+uint64(time.Second), now)
			if want := append([]*event.Event{ex}, rest...); !slices.Equal(out, want) {
				t.Fatalf("released %d events, want the held %d in order", len(out), len(want))
			}
			for _, ev := range out {
				if unknown := ev.Process.ExecutablePath == "" && slices.Contains(ev.Incomplete, event.AttrExecutablePath); unknown != tc.marked {
					t.Errorf("%s: executable %q incomplete %v, marked %v", ev.Kind.Name(), ev.Process.ExecutablePath, ev.Incomplete, tc.marked)
				}
			}
			if tc.marked && (ex.Exec.Args != nil || ex.Exec.WorkingDirectory != "" || rest[1].Process.ParentExecutablePath != "") {
				t.Errorf("marked exec kept %+v; fork kept parent %q", ex.Exec, rest[1].Process.ParentExecutablePath)
			}
			if p.holds[pid] == nil {
				t.Error("the next exec is not held")
			}
		})
	}

	t.Run("deadline", func(t *testing.T) {
		p := newProvider()
		ex := execEvent()
		p.settle(message{what: procEventExec, pid: pid, tgid: pid, time: 1000}, ex, readEnd, now)
		if out := p.due(now.Add(settleTime-1), nil); len(out) != 0 {
			t.Fatal("released before its time")
		}
		// An exec of the process is queued: its handling decides.
		p.q.push(queued{m: message{what: procEventExec, pid: pid, tgid: pid}})
		if out := p.due(now.Add(settleTime), nil); len(out) != 0 {
			t.Fatal("released with an exec of the process queued")
		}
		p.q.pop()
		p.holdOrder = append(p.holdOrder, p.holds[pid])
		if out := p.due(now.Add(settleTime), nil); !slices.Equal(out, []*event.Event{ex}) || len(ex.Incomplete) != 0 {
			t.Fatalf("due released %d events, incomplete %v", len(out), ex.Incomplete)
		}
	})

	t.Run("exit", func(t *testing.T) {
		p := newProvider()
		ex := execEvent()
		p.settle(message{what: procEventExec, pid: pid, tgid: pid, time: 1000}, ex, readEnd, now)
		exit := &event.Event{Kind: event.KindExit, Process: event.Process{PID: pid}}
		if out := p.settle(message{what: procEventExit, pid: pid, tgid: pid, time: 2000}, exit, 0, now); !slices.Equal(out, []*event.Event{ex, exit}) {
			t.Fatalf("exit released %d events", len(out))
		}
		if len(p.holds) != 0 {
			t.Error("hold left after exit")
		}
	})
}

// Lost and malformed messages are counted.
func TestFakeSocketDrops(t *testing.T) {
	k := newFakeKernel()
	k.ackPlain = true
	p, c, _ := fakeProvider(t, k)
	k.fail <- unix.ENOBUFS
	k.deliver <- []byte{1, 2, 3}                                            // short
	k.deliver <- append(msg(procEventFork, 1, 1, 0, 1, 1, 2, 2)[:30], 0, 0) // cut proc_event
	bad := msg(procEventExec, 1, 1, 0, 1, 1)
	binary.LittleEndian.PutUint32(bad[0:], 7) // another connector
	k.deliver <- bad
	// Then a valid message, handled after the others.
	k.deliver <- msg(procEventExit, monotonic(), 2, 0, 600, 600, 0, 17, 1, 1)
	c.waitFor(t, "exit", is(event.KindExit, 600))
	want := []probes.Drop{
		{Stage: "kernel", Reason: "netlink_overrun", Count: 1},
		{Stage: "decode", Reason: "malformed", Count: 3},
	}
	if got := p.Drops(); !slices.Equal(got, want) {
		t.Errorf("drops = %+v, want %+v", got, want)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.Drops(); !slices.Equal(got, want) {
		t.Errorf("drops after close = %+v, want %+v", got, want)
	}
}

func TestCloseWithoutStartAndTwice(t *testing.T) {
	p := New(Options{})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := p.Drops(); len(d) != 1 || d[0].Count != 0 {
		t.Errorf("drops = %+v", d)
	}

	k := newFakeKernel()
	k.ackFiltered = true
	p, _, _ = fakeProvider(t, k)
	for range 2 {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A failed start releases the socket.
func TestStartFailureClosesSocket(t *testing.T) {
	k := newFakeKernel() // acknowledges nothing
	p := New(Options{Cache: proc.NewCache(proc.Options{ProcRoot: t.TempDir()})})
	p.dial = func() (conn, error) { return k.conn(), nil }
	if err := p.Start(context.Background(), newCollector()); err == nil {
		t.Fatal("start succeeded without an acknowledgement")
	}
	select {
	case <-k.closed:
	default:
		t.Error("socket left open")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDialError(t *testing.T) {
	p := New(Options{})
	p.dial = func() (conn, error) { return nil, unix.EPROTONOSUPPORT }
	err := p.Start(context.Background(), newCollector())
	if !errors.Is(err, unix.EPROTONOSUPPORT) || !strings.Contains(err.Error(), "proc connector socket") {
		t.Fatalf("start: %v", err)
	}
}
