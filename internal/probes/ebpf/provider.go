// Package ebpf is the primary event provider: eBPF programs on BTF
// tracepoints observe process activity, write records to a ring buffer, and
// one reader goroutine decodes them, enriches them from the process cache and
// hands them to the handler.
//
// Errors: Start returns an error wrapping ErrNotSupported (from
// github.com/cilium/ebpf) when the kernel lacks something the programs need;
// callers fall back to another provider only then. Every other error names
// the step that failed. Records the kernel could not write are counted per
// record type and reason in a per-CPU map and reported by Drops.
package ebpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/mounts"
	"github.com/otel-sensor/otel-sensor/internal/probes"
	"github.com/otel-sensor/otel-sensor/internal/proc"
)

// ErrNotSupported is cilium/ebpf's: the kernel cannot run the programs.
var ErrNotSupported = ebpf.ErrNotSupported

// Options configure the provider. The zero value is usable.
type Options struct {
	// RingBufferBytes is the ring buffer's size, a power of two multiple
	// of the page size (default 4 MiB).
	RingBufferBytes int
	// WakeupBytes is how much must be pending before the kernel wakes the
	// reader (default RingBufferBytes/16). Below it, the reader polls.
	WakeupBytes int
	// PollInterval bounds how long a record waits for the reader when
	// fewer than WakeupBytes are pending (default 100ms).
	PollInterval time.Duration
	// IncludeSelf reports the sensor's own process too (tests).
	IncludeSelf bool
	// WatchParent, when non-zero, restricts events to the children of that
	// process (tests and diagnostics).
	WatchParent uint32
	// Opens says which file opens are reported: OpensWrites (the
	// default: opens for writing, creating or truncating), OpensAll or
	// OpensNone.
	Opens Opens
	// ReportFailed reports file operations that failed, with the error.
	ReportFailed bool
	// Cache is the process cache to enrich events from; nil makes one
	// seeded from /proc.
	Cache *proc.Cache
	// SweepInterval is how often the cache drops processes whose exit was
	// missed (default 1 minute).
	SweepInterval time.Duration
	// MountInfo is the host's mount table, which names the host's view of
	// the files processes in other mount namespaces (containers) act on
	// (default mounts.HostMountInfo, /proc/1/mountinfo).
	MountInfo string
	// ProbeReads makes the programs read kernel memory with read calls
	// even where the kernel allows direct loads (tests: the path a kernel
	// before 6.2 takes).
	ProbeReads bool
	// NoExitGroupDead makes the exit program find a process's last thread
	// by reading signal->live, as on a kernel before 6.16 whose exit
	// tracepoint has no group_dead, even where it has: for tests.
	NoExitGroupDead bool
}

// Opens selects which file opens are reported.
type Opens int

// Which opens are reported; the zero value is the default.
const (
	OpensWrites Opens = iota // opened for writing, created or truncated
	OpensAll
	OpensNone
)

// kernel is the program's enum open_mode value.
func (o Opens) kernel() uint32 {
	switch o {
	case OpensAll:
		return 2
	case OpensNone:
		return 0
	}
	return 1
}

func (o *Options) setDefaults() {
	if o.RingBufferBytes == 0 {
		o.RingBufferBytes = 4 << 20
	}
	if o.WakeupBytes == 0 {
		o.WakeupBytes = o.RingBufferBytes / 16
	}
	if o.PollInterval == 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Minute
	}
	if o.MountInfo == "" {
		o.MountInfo = mounts.HostMountInfo
	}
}

// recordReader is the part of ringbuf.Reader the read loop uses, so the
// loop can be tested without a kernel.
type recordReader interface {
	ReadInto(*ringbuf.Record) error
	SetDeadline(time.Time)
	Close() error
}

// Provider is the eBPF event provider.
type Provider struct {
	opts    Options
	cache   *proc.Cache
	decoder decoder     // the reading goroutine's
	exits   recentExits // the reading goroutine's
	mounts  *mounts.Host

	objs   sensorObjects
	loaded bool
	links  []link.Link
	reader recordReader

	handler  probes.Handler
	stopping atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	// decodeErrors counts records that could not be decoded, by type.
	decodeErrors [recordTypeCount]atomic.Uint64
	// readErrors counts failed ring-buffer reads; failed reports a reader
	// that gave up (see readLoop).
	readErrors atomic.Uint64
	failed     chan error

	// The kernel counters as they were when the maps were closed, so the
	// final metrics still report them.
	finalMu       sync.Mutex
	finalDrops    []probes.Drop
	finalSyscalls []probes.SyscallCount
	finalExcluded ExclusionCounts
}

const recordTypeCount = int(sensorRecordTypeRECORD_TYPE_MAX)

// New returns a provider; nothing is loaded before Start.
func New(opts Options) *Provider {
	opts.setDefaults()
	return &Provider{opts: opts, cache: opts.Cache, failed: make(chan error, 1)}
}

// maxReadErrors is how many ring-buffer reads in a row may fail before the
// provider gives up and reports itself failed.
const maxReadErrors = 100

// Failed delivers an error once if the provider stops delivering events
// while running (the ring buffer can no longer be read); the sensor then
// falls back to another provider. It never fires after Close.
func (p *Provider) Failed() <-chan error { return p.failed }

// Name is "ebpf".
func (p *Provider) Name() string { return "ebpf" }

// Start loads and attaches the programs, seeds the process cache and starts
// the reader. On failure everything acquired so far is released.
func (p *Provider) Start(ctx context.Context, h probes.Handler) (err error) {
	defer func() {
		if err != nil {
			p.release()
		}
	}()
	p.handler = h
	clock, err := newBootClock()
	if err != nil {
		return err
	}
	p.decoder = decoder{clock: clock}

	// The host's mount tree: where walks of the host's paths end, and
	// where the host sees other trees' file systems.
	if p.mounts, err = mounts.OpenHost(p.opts.MountInfo); err != nil {
		return err
	}
	table, err := p.mounts.Table()
	if err != nil {
		return err
	}
	treeRoot, ok := table.TreeRoot()
	if !ok {
		return fmt.Errorf("%s: no mount at / whose parent is not listed: cannot tell the host's mount tree", p.opts.MountInfo)
	}

	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := loadSensor()
	if err != nil {
		return fmt.Errorf("load eBPF object: %w", err)
	}
	rootID, _ := table.RootID()
	if err := p.configure(spec, uint32(treeRoot), uint32(rootID)); err != nil {
		return err
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return fmt.Errorf("load eBPF programs: %w\n%+v", err, verr)
		}
		return fmt.Errorf("load eBPF programs: %w", err)
	}
	p.loaded = true

	rd, err := ringbuf.NewReader(p.objs.Events)
	if err != nil {
		return fmt.Errorf("open ring buffer reader: %w", err)
	}
	p.reader = rd

	for _, prog := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"sched_process_fork", p.objs.HandleFork},
		{"sched_process_exec", p.objs.HandleExec},
		{"sched_process_exit", p.objs.HandleExit},
		{"sys_exit", p.objs.HandleSysExit},
	} {
		l, err := link.AttachTracing(link.TracingOptions{Program: prog.prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attach %s: %w", prog.name, err)
		}
		p.links = append(p.links, l)
	}

	// Seed after attaching: a process that starts in between is then seen
	// by both, never by neither.
	if p.cache == nil {
		p.cache = proc.NewCache(proc.Options{HostPaths: p.mounts})
		if err := p.cache.Seed(); err != nil {
			return fmt.Errorf("seed process cache: %w", err)
		}
	}

	ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	p.wg.Add(2)
	go p.readLoop()
	go p.sweepLoop(ctx)
	return nil
}

func (p *Provider) configure(spec *ebpf.CollectionSpec, hostTreeRoot, hostRoot uint32) error {
	self := uint32(0)
	if !p.opts.IncludeSelf {
		self = uint32(os.Getpid())
	}
	for name, v := range map[string]any{
		"self_tgid":      self,
		"watch_ppid":     p.opts.WatchParent,
		"wakeup_bytes":   uint64(p.opts.WakeupBytes),
		"urgent_bytes":   uint64(p.opts.RingBufferBytes / 2),
		"open_mode":      p.opts.Opens.kernel(),
		"report_failed":  p.opts.ReportFailed,
		"host_tree_root": hostTreeRoot,
		"host_root_mnt":  hostRoot,
		"direct_loads":   !p.opts.ProbeReads && hasDirectLoads(),
		// The exit tracepoint's group_dead argument (6.16+).
		"exit_group_dead_arg": !p.opts.NoExitGroupDead && exitHasGroupDead(),
	} {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("eBPF object has no variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("count possible CPUs: %w", err)
	}
	spec.Maps["scratch"].MaxEntries = uint32(cpus)
	spec.Maps["events"].MaxEntries = uint32(p.opts.RingBufferBytes)
	return nil
}

// hasDirectLoads reports whether the kernel has the kfunc bpf_rdonly_cast
// (6.2+), through which the programs load kernel memory directly.
func hasDirectLoads() bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false
	}
	var fn *btf.Func
	return spec.TypeByName("bpf_rdonly_cast", &fn) == nil
}

// exitHasGroupDead reports whether the kernel's sched_process_exit
// tracepoint passes group_dead after the task (6.16+): its prototype,
// btf_trace_sched_process_exit, takes three parameters (the tracepoint's
// data, the task, group_dead).
func exitHasGroupDead() bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false
	}
	var td *btf.Typedef
	if spec.TypeByName("btf_trace_sched_process_exit", &td) != nil {
		return false
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return false
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok || len(proto.Params) != 3 {
		return false
	}
	i, ok := btf.UnderlyingType(proto.Params[2].Type).(*btf.Int)
	return ok && i.Size == 1 && i.Encoding == btf.Bool
}

// readLoop drains the ring buffer until Close. It never blocks the kernel:
// the handler must not block either.
func (p *Provider) readLoop() {
	defer p.wg.Done()
	var rec ringbuf.Record
	p.reader.SetDeadline(time.Now().Add(p.opts.PollInterval))
	inARow := 0
	for {
		err := p.reader.ReadInto(&rec)
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			inARow = 0
		}
		switch {
		case err == nil:
			p.handleRecord(rec.RawSample)
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The ring is drained up to here.
			if p.stopping.Load() {
				return
			}
			p.reader.SetDeadline(time.Now().Add(p.opts.PollInterval))
		case errors.Is(err, ringbuf.ErrClosed):
			return
		default:
			p.readErrors.Add(1)
			if inARow++; inARow >= maxReadErrors && !p.stopping.Load() {
				p.failed <- fmt.Errorf("ring buffer: %d reads in a row failed, the last with: %w", inARow, err)
				return
			}
		}
	}
}

func (p *Provider) handleRecord(b []byte) {
	r, err := p.decoder.decode(b)
	if err != nil {
		t := 0
		if len(b) >= 4 && int(b[0]) < recordTypeCount && b[1] == 0 && b[2] == 0 && b[3] == 0 {
			t = int(b[0])
		}
		p.decodeErrors[t].Add(1)
		return
	}
	if r.ev.Kind == event.KindExit && p.exits.seen(r.ev.Process.PID, r.start) {
		// A second "last thread" of a process: before 6.16 two threads
		// exiting at once can both read signal->live at zero.
		r.ev.Release()
		return
	}
	r.ev.Observed = time.Now()
	if len(r.foreign) > 0 {
		translate(p.mounts, r)
	}
	if !enrich(p.cache, r) {
		r.ev.Release()
		return
	}
	p.handler.Handle(r.ev)
}

// recentExits remembers the last processes whose exit was reported, by pid
// and start time, so that a process ends once. The two records of a racing
// exit are written microseconds apart, so the last 64 are plenty.
type recentExits struct {
	keys [64]struct {
		pid   uint32
		start uint64
	}
	next int
}

// seen reports whether the exit of (pid, start) was reported already, and
// remembers it otherwise.
func (x *recentExits) seen(pid uint32, start uint64) bool {
	for _, k := range x.keys {
		if k.pid == pid && k.start == start {
			return true
		}
	}
	x.keys[x.next].pid, x.keys[x.next].start = pid, start
	x.next = (x.next + 1) % len(x.keys)
	return false
}

// enrich fills in from the process cache what the record does not carry,
// and keeps the cache current. It reports false for a record that is not an
// event: a set*id call whose previous ids the kernel did not know (the
// thread's first such call) and that left the ids the cache has.
func enrich(c *proc.Cache, r record) bool {
	ev := r.ev
	pr := &ev.Process
	switch ev.Kind {
	case event.KindExec:
		if parent, ok := c.Lookup(pr.ParentPID, r.parentStart); ok {
			pr.ParentExecutablePath = parent.ExecutablePath
			parent.ExecutableView(ev, event.AttrParentExecutablePath)
		}
		pr.ContainerID = proc.ContainerID(pr.CgroupPath)
		e := entryOf(pr, r.start)
		e.ExecutableProcessView = ev.ProcessView[event.AttrExecutablePath]
		e.ExecutableHostUnknown = slices.Contains(ev.HostPathUnknown, event.AttrExecutablePath)
		c.Put(e)
		return true
	case event.KindFork:
		child := c.Fork(pr.ParentPID, 0, entryOf(pr, r.start))
		pr.ExecutablePath = child.ExecutablePath
		child.ExecutableView(ev, event.AttrExecutablePath)
		pr.CgroupPath = child.CgroupPath
		pr.ContainerID = child.ContainerID
	default:
		if e, ok := c.Lookup(pr.PID, r.start); ok {
			pr.ExecutablePath = e.ExecutablePath
			e.ExecutableView(ev, event.AttrExecutablePath)
			pr.CgroupPath = e.CgroupPath
			pr.ContainerID = e.ContainerID
			if ev.Kind == event.KindCredentialsChange {
				if r.oldCredsUnknown {
					if e.HasCredentials && e.Credentials == *pr.Credentials {
						return false
					}
					ev.Credentials.Previous = e.Credentials
					if !e.HasCredentials {
						ev.Incomplete = append(ev.Incomplete, event.PreviousIDAttrs()...)
					}
				}
				e.Credentials = *pr.Credentials
				e.HasCredentials = true
				c.Put(e)
			}
		} else if ev.Kind == event.KindCredentialsChange && r.oldCredsUnknown {
			ev.Incomplete = append(ev.Incomplete, event.PreviousIDAttrs()...)
		}
	}
	if parent, ok := c.Lookup(pr.ParentPID, 0); ok {
		pr.ParentExecutablePath = parent.ExecutablePath
		parent.ExecutableView(ev, event.AttrParentExecutablePath)
	}
	if ev.Kind == event.KindExit {
		c.Remove(pr.PID, r.start)
	}
	return true
}

func entryOf(pr *event.Process, start uint64) proc.Entry {
	e := proc.Entry{
		PID:            pr.PID,
		ParentPID:      pr.ParentPID,
		StartTime:      start,
		ExecutablePath: pr.ExecutablePath,
		LoginUID:       pr.LoginUID,
		CgroupPath:     pr.CgroupPath,
		ContainerID:    pr.ContainerID,
		Comm:           pr.Comm,
	}
	if pr.Credentials != nil {
		e.Credentials = *pr.Credentials
		e.HasCredentials = true
	}
	return e
}

func (p *Provider) sweepLoop(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(p.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.cache.Sweep()
		}
	}
}

// Drops returns the records lost in the kernel (ring buffer full) and in
// decoding, by event name and reason.
func (p *Provider) Drops() []probes.Drop {
	p.finalMu.Lock()
	defer p.finalMu.Unlock()
	if !p.loaded && p.finalDrops != nil {
		return p.finalDrops
	}
	return p.drops()
}

func (p *Provider) drops() []probes.Drop {
	var out []probes.Drop
	if p.loaded {
		var perCPU []uint64
		// Process records by record type, file records by operation.
		type dropKind struct {
			index int // first index in the drops map / DROP_REASON_MAX
			name  string
		}
		var kinds []dropKind
		for t := 1; t < recordTypeCount; t++ {
			if sensorRecordType(t) != sensorRecordTypeRECORD_FILE && sensorRecordType(t) != sensorRecordTypeRECORD_SOCK {
				kinds = append(kinds, dropKind{t, recordKind(uint32(t)).Name()})
			}
		}
		for op, kind := range fileKinds { // DROP_FILE_BASE + op
			kinds = append(kinds, dropKind{recordTypeCount + int(op), kind.Name()})
		}
		for op, kind := range sockKinds { // DROP_SOCK_BASE + op
			kinds = append(kinds, dropKind{recordTypeCount + 16 + int(op), kind.Name()})
		}
		for _, k := range kinds {
			for r, reason := range []string{"ringbuf_full", "no_scratch", "no_task_storage"} {
				key := uint32(k.index*int(sensorDropReasonDROP_REASON_MAX) + r)
				if err := p.objs.Drops.Lookup(key, &perCPU); err != nil {
					continue
				}
				var n uint64
				for _, v := range perCPU {
					n += v
				}
				if n > 0 || r == 0 {
					out = append(out, probes.Drop{Stage: "kernel", Reason: reason, EventName: k.name, Count: n})
				}
			}
		}
	}
	if n := p.readErrors.Load(); n > 0 {
		out = append(out, probes.Drop{Stage: "kernel", Reason: "read_error", Count: n})
	}
	for t := range p.decodeErrors {
		if n := p.decodeErrors[t].Load(); n > 0 {
			d := probes.Drop{Stage: "decode", Reason: "malformed", Count: n}
			if t > 0 {
				d.EventName = recordKind(uint32(t)).Name()
			}
			out = append(out, d)
		}
	}
	return out
}

// Syscalls returns the calls of the hooked syscalls.
func (p *Provider) Syscalls() []probes.SyscallCount {
	p.finalMu.Lock()
	defer p.finalMu.Unlock()
	if !p.loaded {
		return p.finalSyscalls
	}
	return p.syscalls()
}

func (p *Provider) syscalls() []probes.SyscallCount {
	var out []probes.SyscallCount
	var perCPU []uint64
	for id := range syscallNames {
		if err := p.objs.SyscallCounts.Lookup(uint32(id), &perCPU); err != nil {
			continue
		}
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		if n > 0 {
			out = append(out, probes.SyscallCount{ID: id, Name: syscallName(id), Count: n})
		}
	}
	return out
}

// Close detaches the programs, lets the reader drain what the kernel wrote
// before that, and releases everything. It is idempotent and safe without
// Start.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.release() })
	return p.closeErr
}

func (p *Provider) release() error {
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	if p.reader != nil {
		// The reader returns the deadline error only once the ring is
		// empty; with stopping set it then exits.
		p.stopping.Store(true)
		p.reader.SetDeadline(time.Now())
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	if p.reader != nil {
		errs = append(errs, p.reader.Close())
		p.reader = nil
	}
	if p.mounts != nil {
		errs = append(errs, p.mounts.Close())
	}
	if p.loaded {
		p.finalMu.Lock()
		p.finalDrops, p.finalSyscalls, p.finalExcluded = p.drops(), p.syscalls(), p.excluded()
		errs = append(errs, p.objs.Close())
		p.loaded = false
		p.finalMu.Unlock()
	}
	return errors.Join(errs...)
}

// newBootClock measures the offset between CLOCK_REALTIME and
// CLOCK_BOOTTIME, taking the tightest of a few readings.
func newBootClock() (bootClock, error) {
	var best time.Duration = -1
	var bootWall time.Time
	for range 5 {
		var b1, rt, b2 unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &b1); err != nil {
			return bootClock{}, fmt.Errorf("read CLOCK_BOOTTIME: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_REALTIME, &rt); err != nil {
			return bootClock{}, fmt.Errorf("read CLOCK_REALTIME: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &b2); err != nil {
			return bootClock{}, fmt.Errorf("read CLOCK_BOOTTIME: %w", err)
		}
		spread := time.Duration(b2.Nano() - b1.Nano())
		if best < 0 || spread < best {
			best = spread
			mid := (b1.Nano() + b2.Nano()) / 2
			bootWall = time.Unix(0, rt.Nano()-mid)
		}
	}
	return bootClock{bootWall: bootWall}, nil
}
