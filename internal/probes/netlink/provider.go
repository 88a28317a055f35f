// Package netlink is the fallback event provider: the kernel's proc
// connector (NETLINK_CONNECTOR, multicast group CN_IDX_PROC) reports the
// fork, exec, exit and uid/gid changes of every process by pid, and the
// provider completes them from the process cache and from /proc. It needs no
// eBPF, only CONFIG_PROC_EVENTS, and reports no file or socket events.
//
// Rules:
//
//   - Processes, not threads: a fork or exit is reported only for a
//     thread-group leader (pid = tgid), a uid/gid change only when the
//     leader's credentials changed.
//   - What a message does not carry (executable, arguments, working
//     directory, credentials, cgroup) is read from /proc when the event is
//     handled, after the fact. It is used only when it is of the process the
//     kernel reported: the start time in /proc must not be later than the
//     event (a process that reused the pid started after it), and /proc is
//     read through one directory descriptor, which fails rather than switch
//     to another process. It is not used when the process may have changed
//     before it was read: a credentials change or setsid queued behind the
//     event, or another exec — an exec event, and the events of its process
//     that follow, are held up to 20 ms to find out (settle.go). What could
//     not be read or verified is left unknown and named in
//     event.Event.Incomplete; the event still goes out.
//   - Loss is counted, never silent: messages the kernel could not queue to
//     the socket (the socket's drop counter, seen as ENOBUFS) are dropped at
//     stage "kernel" with reason "netlink_overrun", messages that cannot be
//     decoded at stage "decode" with reason "malformed".
//   - On kernels with per-socket filtering (6.6+), only the events the
//     provider uses are delivered; older kernels get the plain listen
//     request and deliver everything, and the rest is ignored.
//   - The kernel serves only listeners in the initial user and PID
//     namespaces; elsewhere it ignores the listen request, and Start fails.
//
// Errors from Start name the step that failed.
package netlink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/mounts"
	"github.com/otel-sensor/otel-sensor/internal/probes"
	"github.com/otel-sensor/otel-sensor/internal/proc"
)

// Options configure the provider. The zero value is usable.
type Options struct {
	// ReadBufferBytes is the socket's receive buffer (default 8 MiB). The
	// kernel drops what does not fit; it is set past net.core.rmem_max
	// when the sensor has CAP_NET_ADMIN.
	ReadBufferBytes int
	// QueueLength bounds the messages read from the socket and waiting
	// for /proc to be read (default 16384). When it is full the reader
	// waits, and the socket's buffer fills.
	QueueLength int
	// IncludeSelf reports the sensor's own process and its children too
	// (tests).
	IncludeSelf bool
	// WatchParent, when non-zero, restricts events to the children of that
	// process (tests and diagnostics).
	WatchParent uint32
	// Cache is the process cache to enrich events from; nil makes one
	// seeded from /proc. While the provider runs, nothing else may write
	// to it.
	Cache *proc.Cache
	// SweepInterval is how often the cache drops processes whose exit was
	// missed (default 1 minute).
	SweepInterval time.Duration
	// MountInfo is the host's mount table, which names the host's view of
	// the executable and working directory of processes in other mount
	// namespaces (containers) (default mounts.HostMountInfo,
	// /proc/1/mountinfo).
	MountInfo string
}

func (o *Options) setDefaults() {
	if o.ReadBufferBytes <= 0 {
		o.ReadBufferBytes = 8 << 20
	}
	if o.QueueLength <= 0 {
		o.QueueLength = 16384
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Minute
	}
	if o.MountInfo == "" {
		o.MountInfo = mounts.HostMountInfo
	}
}

const (
	// ackTimeout bounds the wait for the kernel's answer to a listen
	// request; the kernel answers before the send returns.
	ackTimeout = 250 * time.Millisecond
	// drainTimeout bounds how long Close reads what the kernel queued.
	drainTimeout = 100 * time.Millisecond
	// messageBufferBytes is the receive buffer for one datagram; a proc
	// connector message is 76 bytes.
	messageBufferBytes = 8192
)

// conn is the part of *netlink.Conn the provider uses, so it can be tested
// with a fake socket.
type conn interface {
	Send(netlink.Message) (netlink.Message, error)
	Receive() ([]netlink.Message, error)
	SetReadDeadline(time.Time) error
	Close() error
}

// Provider is the netlink (proc connector) event provider.
type Provider struct {
	opts  Options
	dial  func() (conn, error)
	cache *proc.Cache
	// mounts is the host's mount table; nil when it could not be read
	// (paths of processes in containers are then their own view).
	mounts *mounts.Host
	clock  *clock
	self   uint32
	procs  *procReader

	conn     conn
	filtered bool
	q        *queue
	handler  probes.Handler
	stopping atomic.Bool
	reading  chan struct{} // closed when the reader has returned
	working  chan struct{} // closed when the worker has returned

	// holds are the exec events the worker holds, by process, oldest
	// first in holdOrder (see settle).
	holds     map[uint32]*hold
	holdOrder []*hold

	closeOnce sync.Once
	closeErr  error

	enobufs       atomic.Uint64 // ENOBUFS errors seen
	malformed     atomic.Uint64 // messages that could not be decoded
	receiveErrors atomic.Uint64 // other receive errors

	// socketDrops reads the socket's drop counter; nil when unavailable.
	// dropsMu guards it, overrun (the highest count reported) and closed.
	dropsMu     sync.Mutex
	socketDrops func() (uint64, error)
	overrun     uint64
	closed      bool
}

// New returns a provider; nothing is opened before Start.
func New(opts Options) *Provider {
	opts.setDefaults()
	p := &Provider{
		opts:  opts,
		cache: opts.Cache,
		self:  uint32(os.Getpid()),
		procs: newProcReader(proc.DefaultProcRoot),
		holds: make(map[uint32]*hold),
	}
	p.dial = p.dialKernel
	return p
}

// Name is "netlink".
func (p *Provider) Name() string { return "netlink" }

// Filtered reports whether the kernel filters events for the provider's
// socket (6.6+); valid after Start.
func (p *Provider) Filtered() bool { return p.filtered }

// Start opens the socket, subscribes to the proc connector, seeds the
// process cache and starts delivering events to h. On failure everything
// acquired so far is released.
func (p *Provider) Start(ctx context.Context, h probes.Handler) (err error) {
	defer func() {
		if err != nil {
			p.release()
		}
	}()
	p.handler = h
	if p.clock, err = newClock(); err != nil {
		return err
	}
	if p.conn, err = p.dial(); err != nil {
		return fmt.Errorf("open proc connector socket: %w", err)
	}
	if p.filtered, err = p.listen(); err != nil {
		return err
	}
	// Without the host's mount table the provider still runs (it is the
	// fallback): paths of processes in containers stay their own view.
	if h, err := mounts.OpenHost(p.opts.MountInfo); err == nil {
		p.mounts = h
	}
	// Seed after subscribing: a process that starts in between is then
	// seen by both, never by neither.
	if p.cache == nil {
		var paths proc.HostPaths
		if p.mounts != nil {
			paths = p.mounts
		}
		p.cache = proc.NewCache(proc.Options{HostPaths: paths})
		if err := p.cache.Seed(); err != nil {
			return fmt.Errorf("seed process cache: %w", err)
		}
	}
	p.q = newQueue(p.opts.QueueLength)
	p.reading, p.working = make(chan struct{}), make(chan struct{})
	go p.readLoop()
	go p.work()
	return nil
}

// dialKernel opens the real socket, joined to the proc connector's group,
// with a large receive buffer.
func (p *Provider) dialKernel() (conn, error) {
	c, err := netlink.Dial(unix.NETLINK_CONNECTOR, &netlink.Config{
		Groups:            cnIdxProc, // a bit mask: group 1 is bit 0
		MessageBufferSize: messageBufferBytes,
	})
	if err != nil {
		return nil, err
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	var (
		bufErr error
		inode  uint64
	)
	err = raw.Control(func(fd uintptr) {
		// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN.
		bufErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, p.opts.ReadBufferBytes)
		if bufErr != nil {
			bufErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, p.opts.ReadBufferBytes)
		}
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) == nil {
			inode = st.Ino
		}
	})
	if err == nil {
		err = bufErr
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("set receive buffer to %d bytes: %w", p.opts.ReadBufferBytes, err)
	}
	if inode != 0 {
		p.socketDrops = func() (uint64, error) {
			b, err := os.ReadFile("/proc/self/net/netlink")
			if err != nil {
				return 0, err
			}
			return parseSocketDrops(b, inode)
		}
	}
	return c, nil
}

// listen subscribes the socket and reports whether the kernel filters
// events for it. A 6.6+ kernel acknowledges a filtered request that asks for
// every event (its filter lets acknowledgements through only then), after
// which the filter is narrowed to the events used; an older kernel ignores
// a request of that size, and gets the plain one.
func (p *Provider) listen() (filtered bool, err error) {
	ack := rand.Uint32() // an acknowledgement carries ack+1
	ok, err := p.request(listenRequest(mcastListen, procEventAll, ack), ack)
	if err != nil {
		return false, err
	}
	if ok {
		if err := p.send(listenRequest(mcastListen, subscribed, ack+2)); err != nil {
			return false, fmt.Errorf("send filtered listen request: %w", err)
		}
		return true, nil
	}
	ack += 4
	ok, err = p.request(listenRequest(mcastListen, 0, ack), ack)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, errors.New("subscribe to the proc connector: no acknowledgement from the kernel " +
			"(it serves only listeners in the initial user and PID namespaces, and needs CONFIG_PROC_EVENTS)")
	}
	return false, nil
}

func (p *Provider) send(payload []byte) error {
	_, err := p.conn.Send(netlink.Message{Header: netlink.Header{Type: netlink.Done}, Data: payload})
	return err
}

// request sends a listen request and waits for its acknowledgement. Events
// that arrive meanwhile are discarded: delivery starts after Start.
func (p *Provider) request(payload []byte, ack uint32) (bool, error) {
	if err := p.send(payload); err != nil {
		return false, fmt.Errorf("send listen request: %w", err)
	}
	deadline := time.Now().Add(ackTimeout)
	if err := p.conn.SetReadDeadline(deadline); err != nil {
		return false, fmt.Errorf("set read deadline: %w", err)
	}
	defer p.conn.SetReadDeadline(time.Time{})
	for {
		msgs, err := p.conn.Receive()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return false, nil
		case errors.Is(err, unix.ENOBUFS):
			p.enobufs.Add(1)
			continue
		case err != nil:
			return false, fmt.Errorf("receive listen acknowledgement: %w", err)
		}
		for _, msg := range msgs {
			m, err := decodeMessage(msg.Data)
			if err != nil || m.what != procEventNone || m.ack != ack+1 {
				continue
			}
			if m.err != 0 {
				return false, fmt.Errorf("subscribe to the proc connector: %w", unix.Errno(m.err))
			}
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
	}
}

// readLoop keeps the socket drained: it decodes each message, drops what
// the provider does not use, and queues the rest for the worker.
func (p *Provider) readLoop() {
	defer close(p.reading)
	for {
		msgs, err := p.conn.Receive()
		observed := time.Now()
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOBUFS):
			// The kernel dropped messages; the socket's drop counter
			// says how many (Drops).
			p.enobufs.Add(1)
			continue
		case p.stopping.Load():
			return // the drain deadline passed, or the socket was closed
		default:
			p.receiveErrors.Add(1)
			time.Sleep(10 * time.Millisecond) // do not spin on a persistent error
			continue
		}
		for _, msg := range msgs {
			m, err := decodeMessage(msg.Data)
			if err != nil {
				p.malformed.Add(1)
				continue
			}
			if !used(m) {
				continue
			}
			if !p.q.push(queued{m: m, observed: observed}) {
				return
			}
		}
	}
}

// used reports whether the worker needs m: an event of a process (not of
// one of its other threads), or a setsid of any thread, which tells the
// worker that a session read from /proc may be newer than an exec.
func used(m message) bool {
	switch m.what {
	case procEventFork, procEventExec, procEventUID, procEventGID, procEventExit:
		return m.leader()
	case procEventSID:
		return true
	}
	return false
}

// work handles the queued messages in order until the queue is closed and
// empty. It is the only writer of the process cache while the provider
// runs, and sweeps it between messages.
func (p *Provider) work() {
	defer close(p.working)
	sweep := time.NewTicker(p.opts.SweepInterval)
	defer sweep.Stop()
	for {
		p.emit(p.due(time.Now(), nil))
		select {
		case <-sweep.C:
			p.cache.Sweep()
			p.clock.resync()
		default:
		}
		it, ok, done := p.q.pop()
		switch {
		case done:
			p.emit(p.releaseAll(nil))
			return
		case !ok:
			p.idle(sweep.C)
			continue
		}
		ev, readEnd := p.build(it.m)
		if ev != nil {
			ev.Observed = it.observed
		}
		p.emit(p.settle(it.m, ev, readEnd, time.Now()))
	}
}

// idle waits for a message, the next sweep or the next held event's time.
func (p *Provider) idle(sweep <-chan time.Time) {
	var due <-chan time.Time
	if d := p.nextDeadline(); !d.IsZero() {
		t := time.NewTimer(time.Until(d))
		defer t.Stop()
		due = t.C
	}
	select {
	case <-p.q.ready:
	case <-due:
	case <-sweep:
		p.cache.Sweep()
		p.clock.resync()
	}
}

func (p *Provider) emit(events []*event.Event) {
	for _, ev := range events {
		if p.report(ev) {
			p.handler.Handle(ev)
		}
	}
}

// report applies the self-exclusion and WatchParent.
func (p *Provider) report(ev *event.Event) bool {
	pr := &ev.Process
	if !p.opts.IncludeSelf && (pr.PID == p.self || pr.ParentPID == p.self) {
		return false
	}
	return p.opts.WatchParent == 0 || pr.ParentPID == p.opts.WatchParent
}

// Drops returns the messages the kernel could not queue to the socket and
// those that could not be decoded.
func (p *Provider) Drops() []probes.Drop {
	p.dropsMu.Lock()
	defer p.dropsMu.Unlock()
	p.updateOverrun()
	out := []probes.Drop{{Stage: "kernel", Reason: "netlink_overrun", Count: p.overrun}}
	if n := p.malformed.Load(); n > 0 {
		out = append(out, probes.Drop{Stage: "decode", Reason: "malformed", Count: n})
	}
	if n := p.receiveErrors.Load(); n > 0 {
		out = append(out, probes.Drop{Stage: "kernel", Reason: "receive_error", Count: n})
	}
	return out
}

// updateOverrun raises the overrun count to the socket's drop counter, or,
// where that cannot be read, to the number of ENOBUFS errors (each stands
// for at least one lost message). Called with dropsMu held.
func (p *Provider) updateOverrun() {
	n := p.enobufs.Load()
	if !p.closed && p.socketDrops != nil {
		if d, err := p.socketDrops(); err == nil {
			n = max(n, d)
		}
	}
	p.overrun = max(p.overrun, n)
}

// Syscalls returns nil: the proc connector counts no syscalls.
func (p *Provider) Syscalls() []probes.SyscallCount { return nil }

// Close stops delivery: the reader drains what the kernel queued before
// (for at most drainTimeout), the worker handles what was read, and the
// socket is closed. It is idempotent and safe without Start.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.release() })
	return p.closeErr
}

func (p *Provider) release() error {
	var errs []error
	closed := false
	if p.reading != nil {
		p.stopping.Store(true)
		// A deadline unblocks the reader as closing the socket would,
		// but lets it read what is already queued first. Without one,
		// close the socket first.
		if err := p.conn.SetReadDeadline(time.Now().Add(drainTimeout)); err != nil {
			errs = append(errs, p.conn.Close())
			closed = true
		}
		<-p.reading
		p.q.close()
		<-p.working
	}
	p.dropsMu.Lock()
	defer p.dropsMu.Unlock()
	if p.conn != nil && !closed {
		p.updateOverrun()
		errs = append(errs, p.conn.Close())
	}
	p.conn = nil
	p.closed = true
	if p.mounts != nil {
		errs = append(errs, p.mounts.Close())
		p.mounts = nil
	}
	return errors.Join(errs...)
}
