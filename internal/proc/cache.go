// Package proc provides the process cache: what the sensor knows of each
// live process (thread-group leader) beyond what a kernel record carries —
// the executable of the process behind a fork, exit or credentials event, the
// parent's executable behind an exec — seeded from /proc at start so that
// processes that ran before the sensor are known.
//
// Rules:
//
//   - A process is identified by its pid and its start time (the kernel's
//     task->start_boottime of the thread-group leader, CLOCK_BOOTTIME
//     nanoseconds). The cache never returns another process's data: an entry
//     whose start time does not match the one asked for (the pid was reused)
//     is not returned, and what is read from /proc on a miss is returned only
//     when its start time matches. /proc gives start times in clock ticks, so
//     start times are compared at tick granularity, with one tick of slack.
//   - A start time of 0 in a query means "do not check".
//   - Memory is bounded by Options.MaxEntries, even when exit events are lost:
//     a full cache first sweeps out processes that are gone, then evicts the
//     oldest-inserted entries.
//   - Pids are those of the pid namespace of the procfs mounted at
//     Options.ProcRoot and cgroup paths those of the reader's cgroup
//     namespace: run the sensor in the host's pid and cgroup namespaces.
//
// A Cache is safe for concurrent use. Lookup does not allocate on a hit.
package proc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// Entry is what the cache knows of one process (thread-group leader).
// A field that is not known is left at its zero value.
type Entry struct {
	PID, ParentPID uint32
	// StartTime is when the process was created, in CLOCK_BOOTTIME
	// nanoseconds: the kernel's task->start_boottime of the thread-group
	// leader. Entries read from /proc have it to the clock tick.
	StartTime uint64
	// ExecutablePath is as the kernel gives it (a replaced binary keeps its
	// " (deleted)" mark); empty for kernel threads, zombies and processes
	// whose /proc/<pid>/exe cannot be read.
	ExecutablePath string
	// ExecutableProcessView is the executable's path as the process saw it
	// in its own mount namespace (a container's), when ExecutablePath is the
	// host's view of it and differs. ExecutableHostUnknown: ExecutablePath
	// is the process's view; the host's could not be named. Both are set
	// by the eBPF provider only (event.Event.ProcessView, HostPathUnknown).
	ExecutableProcessView string
	ExecutableHostUnknown bool
	// Credentials and LoginUID are valid only when HasCredentials is set.
	Credentials    event.Credentials
	LoginUID       uint32
	HasCredentials bool
	// CgroupPath is the cgroup v2 path, e.g. "/system.slice/foo.service".
	CgroupPath string
	// ContainerID is derived from CgroupPath (see ContainerID).
	ContainerID string
	// Comm is the kernel's task name.
	Comm string
}

// Options configure a Cache. The zero value gives the defaults.
type Options struct {
	// ProcRoot is where procfs is mounted. Default "/proc".
	ProcRoot string
	// MaxEntries bounds the number of entries. Default 65536.
	MaxEntries int
	// ClockTicks is USER_HZ, the unit of start times in /proc/<pid>/stat.
	// It must divide 1e9. Default 100 (the value on every architecture the
	// sensor supports).
	ClockTicks int
	// HostPaths, when set, names the host's view of the executable of a
	// process read from /proc that runs in another mount namespace (a
	// container): readlink of /proc/<pid>/exe gives the process's view.
	// Without it, that view is kept as is.
	HostPaths HostPaths
}

// ExecutableView puts what e knows of the views of its executable's path
// into ev, for attr (the event's process's executable, or its parent's):
// the host's view unknown, or the process's view beside the host's.
func (e Entry) ExecutableView(ev *event.Event, attr string) {
	switch {
	case e.ExecutableHostUnknown:
		ev.HostPathUnknown = append(ev.HostPathUnknown, attr)
	case e.ExecutableProcessView != "":
		ev.SetProcessView(attr, e.ExecutablePath, e.ExecutableProcessView)
	}
}

// HostPaths names the host's view of paths that processes in other mount
// namespaces see (mounts.Host implements it).
type HostPaths interface {
	// HostMount reports whether the mount with this id is the host's.
	HostMount(id int) bool
	// ProcessPath names the host's view of path p, which the process with
	// mount table mountinfo sees on its mount with this id.
	ProcessPath(mountinfo []byte, id int, p string) (string, bool)
}

// Defaults of Options.
const (
	DefaultProcRoot   = "/proc"
	DefaultMaxEntries = 65536
	DefaultClockTicks = 100
)

// Cache is the process cache. Create it with NewCache.
type Cache struct {
	root       string
	paths      HostPaths
	max        int
	low        int // a full cache is brought down to low entries
	clockTicks uint64
	tick       uint64 // nanoseconds per clock tick

	mu sync.RWMutex
	// byPID indexes the entries; order links them oldest-inserted first
	// (order.next) to newest (order.prev).
	byPID map[uint32]*node
	order node

	sweeping atomic.Bool // a sweep started by a full cache is running
}

type node struct {
	Entry
	prev, next *node
}

// NewCache returns an empty cache. Out-of-range options take their defaults.
func NewCache(opts Options) *Cache {
	if opts.ProcRoot == "" {
		opts.ProcRoot = DefaultProcRoot
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	tick, err := tickNanoseconds(uint64(max(opts.ClockTicks, 0)))
	if err != nil {
		opts.ClockTicks = DefaultClockTicks
		tick, _ = tickNanoseconds(DefaultClockTicks)
	}
	c := &Cache{
		root:       opts.ProcRoot,
		paths:      opts.HostPaths,
		max:        opts.MaxEntries,
		low:        min(opts.MaxEntries-opts.MaxEntries/8, opts.MaxEntries-1),
		clockTicks: uint64(opts.ClockTicks),
		tick:       tick,
		byPID:      make(map[uint32]*node),
	}
	c.order.next, c.order.prev = &c.order, &c.order
	return c
}

// Seed adds every process under ProcRoot. Processes that exit during the
// scan are skipped silently. An entry already in the cache for the same
// process is kept (events are fresher than the scan). Seed fails when
// ProcRoot cannot be listed; a process that cannot be read for another
// reason is skipped and reported in the error, after the scan completes.
func (c *Cache) Seed() error {
	d, err := os.Open(c.root)
	if err != nil {
		return fmt.Errorf("seed process cache: %w", err)
	}
	defer d.Close()

	r := newProcReader(c.root, c.clockTicks, c.paths)
	var (
		first   error
		skipped int
	)
	for {
		names, err := d.Readdirnames(512)
		for _, name := range names {
			pid, err := strconv.ParseUint(name, 10, 32)
			if err != nil {
				continue // self, sys, ...
			}
			e, err := r.read(uint32(pid))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				continue
			case err != nil:
				skipped++
				if first == nil {
					first = err
				}
				continue
			}
			c.mu.Lock()
			c.storeLocked(e, false)
			c.mu.Unlock()
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("seed process cache: list %s: %w", c.root, err)
		}
	}
	if first != nil {
		return fmt.Errorf("seed process cache: %d processes skipped, first: %w", skipped, first)
	}
	return nil
}

// Lookup returns the entry of process pid started at startTime (0: any
// start time). On a miss it reads /proc/<pid> once and, when that is the
// process asked for, caches and returns it.
func (c *Cache) Lookup(pid uint32, startTime uint64) (Entry, bool) {
	c.mu.RLock()
	if n := c.byPID[pid]; n != nil {
		if startTime == 0 || c.sameStart(n.StartTime, startTime) {
			e := n.Entry
			c.mu.RUnlock()
			return e, true
		}
		if startTime < n.StartTime {
			// An older process whose pid has since been reused: /proc
			// cannot know it either.
			c.mu.RUnlock()
			return Entry{}, false
		}
	}
	c.mu.RUnlock()
	return c.load(pid, startTime, false)
}

// Refresh reads /proc/<pid> and, when that is the process started at
// startTime (0: any), replaces its entry and returns it. Use it when an
// event says the process changed but does not carry the new values (an exec
// or a credentials change seen by a provider that reports only pids).
func (c *Cache) Refresh(pid uint32, startTime uint64) (Entry, bool) {
	return c.load(pid, startTime, true)
}

func (c *Cache) load(pid uint32, startTime uint64, replace bool) (Entry, bool) {
	e, err := newProcReader(c.root, c.clockTicks, c.paths).read(pid)
	if err != nil || (startTime != 0 && !c.sameStart(e.StartTime, startTime)) {
		return Entry{}, false
	}
	return c.store(e, replace), true
}

// Put inserts e, replacing the entry of the same pid (an exec brings a new
// image). When e.ContainerID is empty it is derived from e.CgroupPath.
func (c *Cache) Put(e Entry) {
	if e.ContainerID == "" {
		e.ContainerID = ContainerID(e.CgroupPath)
	}
	c.store(e, true)
}

// Fork records a new process: child, created by the process parentPID
// started at parentStart (0: any). The fields of child that are unknown
// (empty) are inherited from the parent as fork copies them: executable,
// comm, credentials and login uid, and the cgroup with its container id.
// It stores the child and returns its entry.
func (c *Cache) Fork(parentPID uint32, parentStart uint64, child Entry) Entry {
	if child.ParentPID == 0 {
		child.ParentPID = parentPID
	}
	if parent, ok := c.Lookup(parentPID, parentStart); ok {
		if child.ExecutablePath == "" {
			child.ExecutablePath = parent.ExecutablePath
			child.ExecutableProcessView = parent.ExecutableProcessView
			child.ExecutableHostUnknown = parent.ExecutableHostUnknown
		}
		if child.Comm == "" {
			child.Comm = parent.Comm
		}
		if !child.HasCredentials && parent.HasCredentials {
			child.Credentials, child.LoginUID, child.HasCredentials = parent.Credentials, parent.LoginUID, true
		}
		if child.CgroupPath == "" {
			child.CgroupPath = parent.CgroupPath
			if child.ContainerID == "" {
				child.ContainerID = parent.ContainerID
			}
		}
	}
	if child.ContainerID == "" {
		child.ContainerID = ContainerID(child.CgroupPath)
	}
	return c.store(child, true)
}

// Remove removes the entry of process pid started at startTime (0: any).
// An entry of another process with the same pid is kept.
func (c *Cache) Remove(pid uint32, startTime uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.byPID[pid]; n != nil && (startTime == 0 || c.sameStart(n.StartTime, startTime)) {
		c.removeLocked(n)
	}
}

// Len returns the number of entries.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byPID)
}

// Sweep removes the entries of processes that are gone: /proc/<pid> does
// not exist or belongs to a process with another start time. It returns the
// number of entries removed. /proc is read without holding the cache's lock;
// a sweep costs one read of /proc/<pid>/stat per entry.
func (c *Cache) Sweep() int {
	type key struct {
		pid   uint32
		start uint64
	}
	c.mu.RLock()
	keys := make([]key, 0, len(c.byPID))
	for n := c.order.next; n != &c.order; n = n.next {
		keys = append(keys, key{n.PID, n.StartTime})
	}
	c.mu.RUnlock()

	r := newProcReader(c.root, c.clockTicks, c.paths)
	dead := keys[:0]
	for _, k := range keys {
		ticks, err := r.startTicks(k.pid)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			continue // unreadable for another reason: keep
		case sameTicks(ticks, k.start/c.tick):
			continue
		}
		dead = append(dead, k)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	removed := 0
	for _, k := range dead {
		// Only the entry that was found dead: it may have been replaced
		// by a new process with the same pid since.
		if n := c.byPID[k.pid]; n != nil && n.StartTime == k.start {
			c.removeLocked(n)
			removed++
		}
	}
	return removed
}

// store inserts e; see storeLocked. A full cache is swept first, outside the
// lock, by one caller at a time; the others evict.
func (c *Cache) store(e Entry, replace bool) Entry {
	c.mu.Lock()
	if c.byPID[e.PID] == nil && len(c.byPID) >= c.max && c.sweeping.CompareAndSwap(false, true) {
		c.mu.Unlock()
		c.Sweep()
		c.sweeping.Store(false)
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	return c.storeLocked(e, replace)
}

// storeLocked inserts e and returns the entry now cached for e.PID. An
// existing entry of the same pid is replaced when replace is set or when it
// is of an older process; otherwise it is kept and returned. A new entry
// that would exceed MaxEntries first evicts the oldest-inserted entries down
// to 7/8 of MaxEntries, so that a cache full of live processes is not swept
// on every insert.
func (c *Cache) storeLocked(e Entry, replace bool) Entry {
	if n := c.byPID[e.PID]; n != nil {
		if !replace && (c.sameStart(n.StartTime, e.StartTime) || n.StartTime > e.StartTime) {
			return n.Entry
		}
		n.Entry = e
		c.unlink(n)
		c.pushBack(n)
		return e
	}
	if len(c.byPID) >= c.max {
		for len(c.byPID) > c.low {
			c.removeLocked(c.order.next)
		}
	}
	n := &node{Entry: e}
	c.byPID[e.PID] = n
	c.pushBack(n)
	return e
}

func (c *Cache) removeLocked(n *node) {
	c.unlink(n)
	delete(c.byPID, n.PID)
}

func (c *Cache) pushBack(n *node) {
	n.prev, n.next = c.order.prev, &c.order
	c.order.prev.next = n
	c.order.prev = n
}

func (c *Cache) unlink(n *node) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
}

// sameStart reports whether two start times in nanoseconds are of the same
// process: equal to the clock tick, with one tick of slack.
func (c *Cache) sameStart(a, b uint64) bool {
	return sameTicks(a/c.tick, b/c.tick)
}

// sameTicks reports whether two start times in clock ticks are of the same
// process. The slack covers a kernel time and a /proc time truncated on
// either side of a tick boundary.
func sameTicks(a, b uint64) bool {
	return a == b || a == b+1 || b == a+1
}
