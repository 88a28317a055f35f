package netlink

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/proc"
)

// Attribute names listed in event.Event.Incomplete, beyond those in package
// event. They are the exporter's names (docs/events.md).
const (
	attrArgsCount     = "process.args_count"
	attrContainerID   = "container.id"
	attrCreationTime  = "process.creation.time"
	attrComm          = "sensor.process.comm"
	attrSessionLeader = "process.session_leader.pid"
	attrGroupLeader   = "process.group_leader.pid"
	attrInteractive   = "process.interactive"
	attrTTY           = "sensor.process.tty"
)

// kthreadd is the pid of the kernel thread that starts the others.
const kthreadd = 2

// tick is the granularity of start times in /proc (USER_HZ).
const tick = uint64(time.Second) / proc.DefaultClockTicks

// startedBy reports whether a process that started at start (CLOCK_BOOTTIME
// nanoseconds, to the tick when read from /proc) can be the one an event at
// boot time at reported: it must have started by then. A pid is reused only
// after its process was reaped, which is after its events, so a process
// with the same pid that started later is another one. One tick of slack
// covers the truncation of both times.
func startedBy(start, at uint64) bool {
	return start/tick <= at/tick+1
}

// sameStart reports whether two start times are of the same process, to the
// tick with one tick of slack, as the process cache compares them.
func sameStart(a, b uint64) bool {
	a, b = a/tick, b/tick
	return a == b || a == b+1 || b == a+1
}

// build turns one message into an event, or nil when there is none, and
// keeps the process cache current. For an exec whose program was read from
// /proc, readEnd is when the read ended (CLOCK_MONOTONIC; see settle).
func (p *Provider) build(m message) (ev *event.Event, readEnd uint64) {
	switch m.what {
	case procEventFork:
		return p.fork(m), 0
	case procEventExec:
		return p.exec(m)
	case procEventExit:
		return p.exit(m), 0
	case procEventUID, procEventGID:
		return p.credentials(m), 0
	}
	return nil, 0 // setsid: only a marker in the queue
}

// monotonic returns CLOCK_MONOTONIC in nanoseconds, the clock of the
// kernel's event times.
func monotonic() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

func (p *Provider) newEvent(kind event.Kind, m message) *event.Event {
	return &event.Event{
		Kind:    kind,
		Time:    p.clock.wall(p.clock.boot(m.time)),
		Process: event.Process{PID: m.pid, LoginUID: event.NoLoginUID},
	}
}

// fill copies what the cache knows of a process into ev, with the views of
// its executable's path (a process in another mount namespace).
func (p *Provider) fill(ev *event.Event, e proc.Entry) {
	pr := &ev.Process
	if e.ExecutablePath != "" {
		e.ExecutableView(ev, event.AttrExecutablePath)
	}
	pr.PID = e.PID
	pr.ParentPID = e.ParentPID
	pr.StartTime = p.clock.wall(e.StartTime)
	pr.ExecutablePath = e.ExecutablePath
	pr.Credentials, pr.LoginUID = nil, event.NoLoginUID
	if e.HasCredentials {
		c := e.Credentials
		pr.Credentials, pr.LoginUID = &c, e.LoginUID
	}
	pr.CgroupPath = e.CgroupPath
	pr.ContainerID = e.ContainerID
	pr.Comm = e.Comm
}

// parentExecutable sets the executable of ev's parent, process pid, when
// known, with its views.
func (p *Provider) parentExecutable(ev *event.Event, pid uint32) {
	ev.Process.ParentExecutablePath = ""
	if pid == 0 {
		return
	}
	if e, ok := p.cache.Lookup(pid, 0); ok && e.ExecutablePath != "" {
		ev.Process.ParentExecutablePath = e.ExecutablePath
		e.ExecutableView(ev, event.AttrParentExecutablePath)
	}
}

// cached returns the cache's entry of process pid when the cache held one
// before the call. On a miss Lookup reads /proc, which describes the
// process now, after the event being handled, not before it; such an entry
// is cached but reported as not held. The worker is the cache's only writer
// while the provider runs, so a change in the cache's size is exactly a
// miss that was loaded (a hit never changes it).
func (p *Provider) cached(pid uint32) (proc.Entry, bool) {
	n := p.cache.Len()
	e, ok := p.cache.Lookup(pid, 0)
	return e, ok && p.cache.Len() == n
}

// fork: the kernel says only which process forked which. The child is a
// copy of its parent: executable, credentials and cgroup come from the
// parent's cache entry, as fork copies them. Its start time is the time of
// the fork event, microseconds after the kernel's own.
func (p *Provider) fork(m message) *event.Event {
	ev := p.newEvent(event.KindFork, m)
	parent := m.parentTgid
	child := p.cache.Fork(parent, 0, proc.Entry{PID: m.pid, ParentPID: parent, StartTime: p.clock.boot(m.time)})
	p.fill(ev, child)
	ev.Incomplete = dedupe(entryGaps(nil, child))
	p.parentExecutable(ev, parent)
	return ev
}

// exit: the kernel gives the wait status and the parent; the rest is what
// the cache knew of the process.
func (p *Provider) exit(m message) *event.Event {
	ev := p.newEvent(event.KindExit, m)
	code, sig, core := exitStatus(m.exitCode)
	ev.Exit = &event.Exit{Code: code, Signal: sig, CoreDumped: core}
	if e, ok := p.cache.Lookup(m.pid, 0); ok && startedBy(e.StartTime, p.clock.boot(m.time)) {
		p.fill(ev, e)
		ev.Incomplete = dedupe(entryGaps(nil, e))
		p.cache.Remove(m.pid, e.StartTime)
	} else {
		ev.Incomplete = append(ev.Incomplete, event.AttrExecutablePath, attrCreationTime, attrComm, event.AttrCgroup, attrContainerID)
		ev.Incomplete = appendIDs(ev.Incomplete)
	}
	if m.parentTgid != 0 { // the kernel's word over the cache's: the parent may have changed
		ev.Process.ParentPID = m.parentTgid
	}
	p.parentExecutable(ev, ev.Process.ParentPID)
	return ev
}

// execInfo is what the provider reads from /proc for an exec beyond the
// cache's entry.
type execInfo struct {
	stat    procStat
	args    []string
	argc    int // -1 when unknown
	argsCut bool
	argsOK  bool
	cwd     string
	cwdOK   bool
	// cwdView is the process's view of cwd when it differs from the
	// host's; cwdUnknown: cwd is that view, the host's cannot be named.
	cwdView    string
	cwdUnknown bool
}

var errExited = errors.New("process has exited")

// readExec reads /proc/<pid> of the process that exec'd at boot time at.
func (p *Provider) readExec(pid uint32, at uint64) (execInfo, error) {
	d, err := p.procs.open(pid)
	if err != nil {
		return execInfo{}, err
	}
	defer d.close()
	st, err := d.stat()
	if err != nil {
		return execInfo{}, fmt.Errorf("process %d: %w", pid, err)
	}
	if st.pid != pid || !startedBy(st.startTicks*tick, at) {
		return execInfo{}, fmt.Errorf("process %d: pid reused (started at tick %d)", pid, st.startTicks)
	}
	if !st.alive() {
		return execInfo{}, fmt.Errorf("process %d: %w", pid, errExited)
	}
	x := execInfo{stat: st, argc: -1}
	var err1, err2 error
	x.args, x.argc, x.argsCut, err1 = d.cmdline()
	x.cwd, err2 = d.link("cwd")
	x.argsOK, x.cwdOK = err1 == nil, err2 == nil
	if x.cwdOK && p.mounts != nil {
		view := x.cwd
		if x.cwd, x.cwdUnknown = proc.HostView(p.mounts, d.fd, "cwd", view); x.cwd != view {
			x.cwdView = view
		}
	}
	return x, nil
}

// exec: the kernel gives only the pid. The arguments, working directory and
// session are read through one descriptor of /proc/<pid> checked against
// the event's time (readExec); the executable, task name and cgroup come
// from refreshing the cache entry, checked the same way. The credentials
// are the cache's: an exec changes them only for a set-user-id or
// set-group-id program, and the kernel reports that change before the exec,
// so the cache already has it, while /proc may show a change made after.
func (p *Provider) exec(m message) (*event.Event, uint64) {
	ev := p.newEvent(event.KindExec, m)
	pr := &ev.Process
	at := p.clock.boot(m.time)

	prior, hadPrior := p.cached(m.pid)
	hadPrior = hadPrior && startedBy(prior.StartTime, at)
	x, xerr := p.readExec(m.pid, at)
	e, refreshed := p.cache.Refresh(m.pid, 0)
	fresh := refreshed && startedBy(e.StartTime, at) // else another process has the pid now
	readEnd := monotonic()
	// Looked at last: what the process did after the exec may show in
	// what was read.
	after := p.q.later(m.pid)
	again := after.exec > 0 // it exec'd again: what was read may be of the later program
	var missing []string

	// Keep the cache's start time (from the fork event, to the
	// microsecond) when it is of the same process: every event of one
	// process then has the same creation time.
	var start uint64
	switch {
	case fresh:
		start = e.StartTime
	case xerr == nil:
		start = x.stat.startTicks * tick
	}
	if hadPrior && (start == 0 || sameStart(prior.StartTime, start)) {
		start = prior.StartTime
	}
	if start == 0 {
		missing = append(missing, attrCreationTime)
	}

	switch {
	case fresh:
		p.fill(ev, e)
	case hadPrior: // the process, not its new program
		pr.ParentPID = prior.ParentPID
		pr.CgroupPath, pr.ContainerID = prior.CgroupPath, prior.ContainerID
	default:
		missing = append(missing, event.AttrCgroup, attrContainerID)
	}
	pr.StartTime = p.clock.wall(start)
	if !fresh || again || pr.ExecutablePath == "" {
		pr.ExecutablePath, pr.Comm = "", ""
		ev.ForgetView(event.AttrExecutablePath)
		missing = append(missing, event.AttrExecutablePath, attrComm)
	}
	pr.Credentials, pr.LoginUID = nil, event.NoLoginUID
	switch {
	case hadPrior && prior.HasCredentials:
		c := prior.Credentials
		pr.Credentials, pr.LoginUID = &c, prior.LoginUID
	case fresh && e.HasCredentials && !again && after.uid+after.gid == 0:
		c := e.Credentials
		pr.Credentials, pr.LoginUID = &c, e.LoginUID
	default:
		missing = appendIDs(missing)
	}

	if xerr != nil {
		missing = append(missing, event.AttrCommandArgs, attrArgsCount, event.AttrWorkingDirectory,
			attrSessionLeader, attrGroupLeader, attrInteractive, attrTTY)
	} else {
		pr.ParentPID = x.stat.ppid
		ev.Exec, missing = p.execFields(x, after, missing, &ev.Truncated)
		if ev.Exec.WorkingDirectory != "" {
			switch {
			case x.cwdUnknown:
				ev.HostPathUnknown = append(ev.HostPathUnknown, event.AttrWorkingDirectory)
			case x.cwdView != "":
				ev.SetProcessView(event.AttrWorkingDirectory, ev.Exec.WorkingDirectory, x.cwdView)
			}
		}
	}
	ev.Incomplete = dedupe(missing)
	p.parentExecutable(ev, pr.ParentPID)

	// The cache holds the process as this event leaves it: what is not
	// known to be of this program is unknown, and the events queued behind
	// this one bring the rest.
	switch {
	case fresh:
		e.StartTime = start
		e.ExecutablePath, e.Comm = pr.ExecutablePath, pr.Comm
		e.Credentials, e.LoginUID, e.HasCredentials = event.Credentials{}, event.NoLoginUID, pr.Credentials != nil
		if e.HasCredentials {
			e.Credentials, e.LoginUID = *pr.Credentials, pr.LoginUID
		}
		p.cache.Put(e)
	case hadPrior && !refreshed:
		// Gone: forget the old program; the exit reports it unknown.
		prior.ExecutablePath, prior.Comm = "", ""
		p.cache.Put(prior)
	}
	if again || !fresh && xerr != nil {
		readEnd = 0 // nothing read that a later exec could make wrong
	}
	return ev, readEnd
}

// execFields builds the exec-specific fields from what readExec read,
// leaving out what the process may have changed since.
func (p *Provider) execFields(x execInfo, after later, missing []string, truncated *[]string) (*event.Exec, []string) {
	ex := &event.Exec{
		ArgsCount:        -1,
		SessionLeaderPID: x.stat.session,
		GroupLeaderPID:   x.stat.pgrp,
		Interactive:      x.stat.ttyNr != 0,
	}
	switch {
	case after.sid > 0: // setsid since: session, group and terminal may be new
		ex.SessionLeaderPID, ex.GroupLeaderPID, ex.Interactive = 0, 0, false
		missing = append(missing, attrSessionLeader, attrGroupLeader, attrInteractive, attrTTY)
	case ex.Interactive:
		if ex.TTY = ttyName(x.stat.ttyNr); ex.TTY == "" {
			missing = append(missing, attrTTY)
		}
	}
	if after.exec > 0 { // what was read may be of the later program
		return ex, append(missing, event.AttrCommandArgs, attrArgsCount, event.AttrWorkingDirectory)
	}
	if x.argsOK {
		ex.Args, ex.ArgsCount = x.args, x.argc
		if x.argsCut {
			*truncated = append(*truncated, event.AttrCommandArgs)
		}
		if x.argc < 0 {
			missing = append(missing, attrArgsCount)
		}
	} else {
		missing = append(missing, event.AttrCommandArgs, attrArgsCount)
	}
	if x.cwdOK {
		ex.WorkingDirectory = x.cwd
	} else {
		missing = append(missing, event.AttrWorkingDirectory)
	}
	return ex, missing
}

// credentials: the kernel gives the new real and effective uid (or gid).
// The saved and file-system ids of that kind come from /proc when no later
// change of the same kind is queued; the ids of the other kind, and the
// rest of the process, from the cache's entry from before the event (a
// credentials change changes nothing else), else from /proc. The previous
// ids are the cache's, when it held the process before this event and they
// differ from the new ones (a notification always changes an id: equal ids
// mean the cache had read /proc after the change).
func (p *Provider) credentials(m message) *event.Event {
	ev := p.newEvent(event.KindCredentialsChange, m)
	at := p.clock.boot(m.time)

	prev, havePrev := p.cached(m.pid)
	havePrev = havePrev && startedBy(prev.StartTime, at)
	cur, refreshed := p.cache.Refresh(m.pid, 0)
	haveCur := refreshed && startedBy(cur.StartTime, at) // else another process has the pid now
	after := p.q.later(m.pid)

	isUID := m.what == procEventUID
	laterSame, laterOther := after.uid > 0, after.gid > 0
	if !isUID {
		laterSame, laterOther = laterOther, laterSame
	}
	sameFromCur := haveCur && !laterSame
	var other *event.Credentials // where the ids of the other kind come from
	switch {
	case havePrev && prev.HasCredentials:
		other = &prev.Credentials
	case haveCur && !laterOther:
		other = &cur.Credentials
	}
	var next event.Credentials
	if other != nil {
		next = *other
	}
	if isUID {
		next.UID, next.EUID = m.real, m.effective
		if sameFromCur {
			next.SUID, next.FSUID = cur.Credentials.SUID, cur.Credentials.FSUID
		}
	} else {
		next.GID, next.EGID = m.real, m.effective
		if sameFromCur {
			next.SGID, next.FSGID = cur.Credentials.SGID, cur.Credentials.FSGID
		}
	}
	known := sameFromCur && other != nil

	var base proc.Entry
	switch {
	case havePrev:
		base = prev
	case haveCur:
		base = cur
		if after.exec > 0 { // /proc may show a later program
			base.ExecutablePath, base.Comm = "", ""
		}
	}
	if havePrev || haveCur {
		p.fill(ev, base)
		ev.Incomplete = entryGaps(ev.Incomplete, base)
	} else {
		ev.Incomplete = append(ev.Incomplete, event.AttrExecutablePath, attrCreationTime, attrComm, event.AttrCgroup, attrContainerID)
	}
	ev.Process.Credentials = nil
	if known {
		c := next
		ev.Process.Credentials = &c
	} else {
		ev.Incomplete = appendIDs(ev.Incomplete)
	}
	if havePrev && prev.HasCredentials && changed(prev.Credentials, next, isUID, sameFromCur) {
		ev.Credentials = &event.CredentialsChange{Previous: prev.Credentials}
	} else {
		ev.Incomplete = append(ev.Incomplete, event.PreviousIDAttrs()...)
	}
	ev.Incomplete = dedupe(ev.Incomplete)
	p.parentExecutable(ev, ev.Process.ParentPID)

	if haveCur || havePrev && !refreshed {
		base.Credentials, base.HasCredentials = next, known
		if !known {
			base.LoginUID = event.NoLoginUID
		}
		p.cache.Put(base)
	}
	return ev
}

// changed reports whether the notified kind of ids differs between prev
// and next; saved and fs ids count only when next's are known.
func changed(prev, next event.Credentials, uid, full bool) bool {
	if uid {
		return prev.UID != next.UID || prev.EUID != next.EUID ||
			full && (prev.SUID != next.SUID || prev.FSUID != next.FSUID)
	}
	return prev.GID != next.GID || prev.EGID != next.EGID ||
		full && (prev.SGID != next.SGID || prev.FSGID != next.FSGID)
}

// appendIDs appends the names of the credential attributes, which come
// together: all are present or none is.
func appendIDs(names []string) []string {
	return append(names,
		"process.user.id", "process.real_user.id", "process.saved_user.id", "sensor.process.fs_user.id",
		"sensor.process.group.id", "sensor.process.real_group.id", "sensor.process.saved_group.id", "sensor.process.fs_group.id",
		"sensor.process.login_user.id")
}

// dedupe removes repeated names, keeping the first of each; nil when empty.
func dedupe(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// entryGaps appends the names of what a cache entry lacks that the provider
// would have filled: the credentials, the executable (kernel threads, the
// children of kthreadd, have none), the task name, and the cgroup with the
// container id.
func entryGaps(names []string, e proc.Entry) []string {
	if !e.HasCredentials {
		names = appendIDs(names)
	}
	if e.ExecutablePath == "" && e.PID != kthreadd && e.ParentPID != kthreadd {
		names = append(names, event.AttrExecutablePath)
	}
	if e.Comm == "" {
		names = append(names, attrComm)
	}
	if e.CgroupPath == "" {
		names = append(names, event.AttrCgroup, attrContainerID)
	}
	return names
}
