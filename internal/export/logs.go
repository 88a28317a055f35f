package export

import (
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// ScopeName is the instrumentation scope of everything the sensor exports.
const ScopeName = "otel-sensor"

// RawPrefix prefixes the name of the bytes attribute that keeps the exact
// original value of a string attribute that was not valid UTF-8.
const RawPrefix = "sensor.raw."

// Attribute names. Those without the sensor. prefix are OpenTelemetry
// semantic conventions.
const (
	attrPID                  = "process.pid"
	attrParentPID            = "process.parent_pid"
	attrExecutablePath       = event.AttrExecutablePath
	attrExecutableName       = "process.executable.name"
	attrCreationTime         = "process.creation.time"
	attrUserID               = "process.user.id"
	attrRealUserID           = "process.real_user.id"
	attrSavedUserID          = "process.saved_user.id"
	attrFSUserID             = "sensor.process.fs_user.id"
	attrGroupID              = "sensor.process.group.id"
	attrRealGroupID          = "sensor.process.real_group.id"
	attrSavedGroupID         = "sensor.process.saved_group.id"
	attrFSGroupID            = "sensor.process.fs_group.id"
	attrLoginUserID          = "sensor.process.login_user.id"
	attrCgroup               = event.AttrCgroup
	attrContainerID          = "container.id"
	attrParentExecutablePath = event.AttrParentExecutablePath
	attrComm                 = "sensor.process.comm"

	attrCommandArgs      = event.AttrCommandArgs
	attrArgsCount        = "process.args_count"
	attrWorkingDirectory = event.AttrWorkingDirectory
	attrSessionLeaderPID = "process.session_leader.pid"
	attrGroupLeaderPID   = "process.group_leader.pid"
	attrInteractive      = "process.interactive"
	attrTTY              = "sensor.process.tty"

	attrExitCode       = "process.exit.code"
	attrExitTime       = "process.exit.time"
	attrExitSignal     = "sensor.process.exit.signal"
	attrExitCoreDumped = "sensor.process.exit.core_dumped"

	attrSyscallID   = "sensor.syscall.id"
	attrSyscallName = "sensor.syscall.name"

	attrTruncated = "sensor.truncated"

	// ProcessViewPrefix + a path attribute's name: the path as the
	// process saw it in its own mount namespace (a container's), where the
	// attribute holds the host's view and the two differ.
	ProcessViewPrefix = "sensor.process_view."
	// attrHostPathUnknown lists the path attributes that hold the
	// process's view because the host's could not be named.
	attrHostPathUnknown = "sensor.host_path_unknown"
)

// cgroupV2Prefix makes a cgroup path a line of /proc/PID/cgroup on a
// cgroup v2 (unified) host: hierarchy 0, no controllers.
const cgroupV2Prefix = "0::"

// NewLogs maps events to log records under one ResourceLogs carrying res and
// one ScopeLogs named ScopeName with version res.Version, in event order.
func NewLogs(res Resource, events []*event.Event) plog.Logs {
	var m eventMapper
	b := newLogsBatch()
	b.setResource(&res)
	for _, ev := range events {
		l := m.mapAttrs(ev)
		b.add(ev, l, 0)
	}
	return b.finish()
}

// writeRecord writes ev with the attributes l into lr, overwriting all that
// a previous writeRecord put there. Like attrList.set, it leaves the
// strings that are already there.
func writeRecord(lr plog.LogRecord, ev *event.Event, l *attrList) {
	if name := ev.Kind.Name(); lr.EventName() != name {
		lr.SetEventName(name)
	}
	lr.SetTimestamp(timestampOf(ev.Time))
	lr.SetObservedTimestamp(timestampOf(ev.Observed))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	if lr.SeverityText() != severityText {
		lr.SetSeverityText(severityText)
	}
	l.writeTo(lr.Attributes())
}

// severityText is the severity of every event.
const severityText = "INFO"

// timestampOf is t as a pdata timestamp; the zero time (unknown) is 0,
// which leaves the field out.
func timestampOf(t time.Time) pcommon.Timestamp {
	if t.IsZero() {
		return 0
	}
	return pcommon.NewTimestampFromTime(t)
}

// eventMapper turns events into attribute lists. It keeps its scratch list
// and the last values it derived from process fields (a stream of events
// mostly comes in runs from one process), so mapping allocates nothing in
// the common case. One goroutine uses it; the list it returns is valid until
// the next call.
type eventMapper struct {
	list attrList

	startTime    time.Time // process.creation.time memo
	startTimeStr string
	cgroup       string // process.linux.cgroup memo
	cgroupAttr   string
	flags        uint32 // sensor.file.flags memo
	flagNames    []string
	// Whether the last values of the process's strings were valid UTF-8.
	exe, parentExe, cgroupValid, comm validMemo
}

// validMemo remembers whether the last string it checked was valid UTF-8.
// The strings of one process repeat from event to event, most of them the
// very same string (from the provider's process cache), which compares
// equal without reading it.
type validMemo struct {
	s     string
	valid bool
}

func (m *validMemo) check(s string) bool {
	if s != m.s || s == "" {
		m.s, m.valid = s, utf8.ValidString(s)
	}
	return m.valid
}

// mapAttrs returns the attributes of ev in export order.
func (m *eventMapper) mapAttrs(ev *event.Event) *attrList {
	a := &m.list
	a.reset()
	m.process(&ev.Process, ev.Truncated)
	sections := 0
	switch ev.Kind {
	case event.KindExec:
		if ev.Exec != nil {
			a.exec(ev.Exec)
		}
	case event.KindExit:
		if ev.Exit != nil {
			a.exit(ev.Exit, ev.Time)
		}
	case event.KindCredentialsChange:
		if ev.Credentials != nil {
			a.credentialsChange(ev.Credentials)
			sections++
		}
	}
	if ev.File != nil {
		m.file(ev.Kind, ev.File)
		sections++
	}
	if ev.Network != nil {
		a.network(ev.Network)
		sections++
	}
	if sections > 1 {
		// The credentials, file and network attributes share some
		// names (sensor.syscall.*): a second put of a name updates the
		// first, as pcommon.Map's Put does.
		a.dedupe()
	}
	if len(ev.ProcessView) > 0 {
		for _, attr := range slices.Sorted(maps.Keys(ev.ProcessView)) {
			a.str(ProcessViewPrefix+attr, ev.ProcessView[attr])
		}
	}
	if len(ev.HostPathUnknown) > 0 {
		a.strs(attrHostPathUnknown, ev.HostPathUnknown)
	}
	if len(ev.Truncated) > 0 {
		a.strs(attrTruncated, ev.Truncated)
	}
	if len(ev.Incomplete) > 0 {
		// What the provider could not fill is absent, whatever default
		// its field holds (a bool has no "unknown").
		for _, name := range ev.Incomplete {
			a.remove(name)
		}
		a.strs(attrIncomplete, ev.Incomplete)
	}
	return a
}

func (m *eventMapper) process(p *event.Process, truncated []string) {
	a := &m.list
	if p.PID != 0 {
		a.putInt(attrPID, int64(p.PID))
	}
	if p.ParentPID != 0 {
		a.putInt(attrParentPID, int64(p.ParentPID))
	}
	if p.ExecutablePath != "" {
		valid := m.exe.check(p.ExecutablePath)
		a.strChecked(attrExecutablePath, p.ExecutablePath, valid)
		if !slices.Contains(truncated, event.AttrExecutablePath) {
			if name := basename(p.ExecutablePath); name != "" {
				a.strPart(attrExecutableName, name, valid)
			}
		}
	}
	if !p.StartTime.IsZero() {
		if !p.StartTime.Equal(m.startTime) || m.startTimeStr == "" {
			m.startTime, m.startTimeStr = p.StartTime, timestamp(p.StartTime)
		}
		a.putStr(attrCreationTime, m.startTimeStr)
	}
	if c := p.Credentials; c != nil {
		a.ids(&idAttrs, c)
		if p.LoginUID != event.NoLoginUID {
			a.putInt(attrLoginUserID, int64(p.LoginUID))
		}
	}
	if p.CgroupPath != "" {
		if p.CgroupPath != m.cgroup || m.cgroupAttr == "" {
			m.cgroup, m.cgroupAttr = p.CgroupPath, cgroupV2Prefix+p.CgroupPath
		}
		a.strChecked(attrCgroup, m.cgroupAttr, m.cgroupValid.check(m.cgroupAttr))
	}
	if p.ContainerID != "" {
		a.str(attrContainerID, p.ContainerID)
	}
	if p.ParentExecutablePath != "" {
		a.strChecked(attrParentExecutablePath, p.ParentExecutablePath, m.parentExe.check(p.ParentExecutablePath))
	}
	if p.Comm != "" {
		a.strChecked(attrComm, p.Comm, m.comm.check(p.Comm))
	}
}

func (a *attrList) exec(e *event.Exec) {
	if len(e.Args) > 0 {
		a.strs(attrCommandArgs, e.Args)
	}
	if e.ArgsCount >= 0 {
		a.putInt(attrArgsCount, int64(e.ArgsCount))
	}
	if e.WorkingDirectory != "" {
		a.str(attrWorkingDirectory, e.WorkingDirectory)
	}
	if e.SessionLeaderPID != 0 {
		a.putInt(attrSessionLeaderPID, int64(e.SessionLeaderPID))
	}
	if e.GroupLeaderPID != 0 {
		a.putInt(attrGroupLeaderPID, int64(e.GroupLeaderPID))
	}
	a.putBool(attrInteractive, e.Interactive)
	if e.TTY != "" {
		a.str(attrTTY, e.TTY)
	}
}

func (a *attrList) exit(e *event.Exit, at time.Time) {
	a.putInt(attrExitCode, int64(e.Code))
	if !at.IsZero() {
		a.putStr(attrExitTime, timestamp(at))
	}
	if e.Signal != 0 {
		a.putInt(attrExitSignal, int64(e.Signal))
	}
	if e.CoreDumped {
		a.putBool(attrExitCoreDumped, true)
	}
}

// idAttrs and previousIDAttrs name the ids of event.Credentials, in the
// order ids puts them: effective, real, saved and file-system user id, then
// the same group ids.
var (
	idAttrs = [8]string{attrUserID, attrRealUserID, attrSavedUserID, attrFSUserID,
		attrGroupID, attrRealGroupID, attrSavedGroupID, attrFSGroupID}
	previousIDAttrs = [8]string(event.PreviousIDAttrs())
)

// ids puts the eight ids of c under names.
func (a *attrList) ids(names *[8]string, c *event.Credentials) {
	for i, id := range [8]uint32{c.EUID, c.UID, c.SUID, c.FSUID, c.EGID, c.GID, c.SGID, c.FSGID} {
		a.putInt(names[i], int64(id))
	}
}

func (a *attrList) credentialsChange(c *event.CredentialsChange) {
	a.ids(&previousIDAttrs, &c.Previous)
	if c.SyscallID != 0 {
		a.putInt(attrSyscallID, int64(c.SyscallID))
	}
	if c.SyscallName != "" {
		a.str(attrSyscallName, c.SyscallName)
	}
}

// File event attributes. file.* are semantic conventions; the rest are ours.
const (
	attrFilePath          = "file.path"
	attrFileName          = "file.name"
	attrFileDirectory     = "file.directory"
	attrFileMode          = "file.mode"
	attrFileOwnerID       = "file.owner.id"
	attrFileGroupID       = "file.group.id"
	attrFileSymlinkTarget = "file.symbolic_link.target_path"
	attrFilePrevious      = "sensor.file.previous_path"
	attrFileLinkSource    = "sensor.file.link.source_path"
	attrFileAccess        = "sensor.file.access"
	attrFileFlags         = "sensor.file.flags"
	attrFileCreated       = "sensor.file.created"
	attrFileTruncated     = "sensor.file.truncated"
	attrFileIsDirectory   = "sensor.file.is_directory"
	attrFileExchange      = "sensor.file.rename.exchange"
	attrFileNoReplace     = "sensor.file.rename.noreplace"
	attrErrorType         = "error.type"
	attrIncomplete        = "sensor.incomplete"
	attrSyscallErrno      = "sensor.syscall.errno"
)

func (m *eventMapper) file(kind event.Kind, f *event.File) {
	a := &m.list
	if f.Path != "" {
		valid := a.str(attrFilePath, f.Path)
		if strings.HasPrefix(f.Path, "/") {
			dir, name := path.Split(f.Path)
			if name != "" {
				// Both are cut at a '/', so they are valid UTF-8 when
				// the path is.
				a.strPart(attrFileName, name, valid)
				a.strPart(attrFileDirectory, cleanDir(dir), valid)
			}
		}
	}
	if f.PreviousPath != "" {
		a.str(attrFilePrevious, f.PreviousPath)
	}
	if f.SourcePath != "" {
		a.str(attrFileLinkSource, f.SourcePath)
	}
	if kind == event.KindFileSymlink {
		a.str(attrFileSymlinkTarget, f.SymlinkTarget)
	}
	switch kind {
	case event.KindFileOpen:
		a.putStr(attrFileAccess, f.Access.String())
		if m.flagNames == nil || f.Flags != m.flags {
			m.flags, m.flagNames = f.Flags, openFlagNames(f.Flags)
		}
		a.strs(attrFileFlags, m.flagNames)
		a.putBool(attrFileCreated, f.Created)
		a.putBool(attrFileTruncated, f.Truncated)
	case event.KindFileDelete:
		a.putBool(attrFileIsDirectory, f.Directory)
	case event.KindFileRename:
		if f.Exchange {
			a.putBool(attrFileExchange, true)
		}
		if f.NoReplace {
			a.putBool(attrFileNoReplace, true)
		}
	}
	if f.HasMode {
		a.putStr(attrFileMode, fileMode(f.Mode))
	}
	if f.OwnerID != event.NoID && kind == event.KindFileChown {
		a.putStr(attrFileOwnerID, strconv.FormatUint(uint64(f.OwnerID), 10))
	}
	if f.GroupID != event.NoID && kind == event.KindFileChown {
		a.putStr(attrFileGroupID, strconv.FormatUint(uint64(f.GroupID), 10))
	}
	if f.SyscallID != 0 {
		a.putInt(attrSyscallID, int64(f.SyscallID))
	}
	if f.SyscallName != "" {
		a.putStr(attrSyscallName, f.SyscallName)
	}
	if f.Errno != 0 {
		a.putInt(attrSyscallErrno, int64(f.Errno))
		a.putStr(attrErrorType, errnoName(f.Errno))
	}
}

// cleanDir is path.Clean(dir) for the directory part of an absolute path,
// which ends in '/'. Most such directories are clean but for that slash:
// they are returned as a slice of dir, without path.Clean's walk.
func cleanDir(dir string) string {
	d := dir[:len(dir)-1]
	if d != "" && d[len(d)-1] != '/' && !strings.Contains(d, "//") && !strings.Contains(d, "/.") {
		return d
	}
	return path.Clean(dir)
}

// fileMode formats a mode as file.mode wants it: octal, at least four
// digits (fmt's %04o).
func fileMode(mode uint32) string {
	var buf [16]byte
	b := strconv.AppendUint(buf[:0], uint64(mode), 8)
	for len(b) < 4 {
		b = append([]byte{'0'}, b...)
	}
	return string(b)
}

// Network event attributes. network.* are semantic conventions.
const (
	attrNetTransport     = "network.transport"
	attrNetType          = "network.type"
	attrNetLocalAddress  = "network.local.address"
	attrNetLocalPort     = "network.local.port"
	attrNetPeerAddress   = "network.peer.address"
	attrNetPeerPort      = "network.peer.port"
	attrNetLocalAbstract = "sensor.network.local.abstract"
	attrNetPeerAbstract  = "sensor.network.peer.abstract"
	attrNetSocketType    = "sensor.network.socket.type"
	attrNetProtocol      = "sensor.network.protocol"
	attrNetInProgress    = "sensor.network.connect.in_progress"
	attrNetPeerFromCall  = "sensor.network.peer.requested"
)

// socketType names SOCK_* types.
func socketType(t int) string {
	switch t {
	case 1:
		return "stream"
	case 2:
		return "dgram"
	case 3:
		return "raw"
	case 5:
		return "seqpacket"
	}
	return ""
}

func (a *attrList) network(n *event.Network) {
	if n.Transport != "" {
		a.putStr(attrNetTransport, n.Transport)
	} else {
		a.putInt(attrNetProtocol, int64(n.Protocol))
	}
	if n.Type != "" {
		a.putStr(attrNetType, n.Type)
	}
	if t := socketType(n.SocketType); t != "" {
		a.putStr(attrNetSocketType, t)
	}
	if n.LocalAddress != "" {
		a.str(attrNetLocalAddress, n.LocalAddress)
		if n.Type != "" {
			a.putInt(attrNetLocalPort, int64(n.LocalPort))
		}
		if n.LocalAbstract {
			a.putBool(attrNetLocalAbstract, true)
		}
	}
	if n.PeerAddress != "" {
		a.str(attrNetPeerAddress, n.PeerAddress)
		if n.Type != "" {
			a.putInt(attrNetPeerPort, int64(n.PeerPort))
		}
		if n.PeerAbstract {
			a.putBool(attrNetPeerAbstract, true)
		}
		if n.PeerFromCall {
			a.putBool(attrNetPeerFromCall, true)
		}
	}
	if n.InProgress {
		a.putBool(attrNetInProgress, true)
	}
	if n.SyscallID != 0 {
		a.putInt(attrSyscallID, int64(n.SyscallID))
	}
	if n.SyscallName != "" {
		a.putStr(attrSyscallName, n.SyscallName)
	}
	if n.Errno != 0 {
		a.putInt(attrSyscallErrno, int64(n.Errno))
		a.putStr(attrErrorType, errnoName(n.Errno))
	}
}

// openFlagNames names the O_* flags of an open (x86_64 values).
func openFlagNames(flags uint32) []string {
	names := make([]string, 0, 4)
	switch flags & 3 {
	case 0:
		names = append(names, "O_RDONLY")
	case 1:
		names = append(names, "O_WRONLY")
	default:
		names = append(names, "O_RDWR")
	}
	for _, f := range openFlags {
		if flags&f.bits == f.bits {
			names = append(names, f.name)
		}
	}
	return names
}

var openFlags = []struct {
	bits uint32
	name string
}{
	{0o100, "O_CREAT"}, {0o200, "O_EXCL"}, {0o400, "O_NOCTTY"}, {0o1000, "O_TRUNC"},
	{0o2000, "O_APPEND"}, {0o4000, "O_NONBLOCK"}, {0o10000, "O_DSYNC"}, {0o20000, "O_ASYNC"},
	{0o40000, "O_DIRECT"}, {0o200000, "O_DIRECTORY"}, {0o400000, "O_NOFOLLOW"},
	{0o1000000, "O_NOATIME"}, {0o2000000, "O_CLOEXEC"}, {0o4010000, "O_SYNC"},
	{0o10000000, "O_PATH"}, {0o20200000, "O_TMPFILE"},
}

// errnoName is the symbolic name of an errno ("EACCES"), or its number.
func errnoName(errno int) string {
	if name := unix.ErrnoName(unix.Errno(errno)); name != "" {
		return name
	}
	return strconv.Itoa(errno)
}

// validUTF8 returns s with each byte that is not part of a valid UTF-8
// sequence replaced by U+FFFD: one replacement per invalid byte, so the
// count of bad bytes survives. (strings.ToValidUTF8 replaces a whole run of
// invalid bytes with a single replacement.) A U+FFFD already in s is kept.
func validUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	start := 0 // beginning of the pending run of valid bytes
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString("\uFFFD")
			i++
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	return b.String()
}

// basename is the last element of a slash-separated path; empty when the
// path ends in a slash.
func basename(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// timestamp formats t as RFC 3339 with nanoseconds in UTC, the ISO 8601 form
// the semantic conventions use for process.creation.time and
// process.exit.time.
func timestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
