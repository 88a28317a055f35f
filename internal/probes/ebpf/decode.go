package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// Byte layout of the records in bpf/sensor.h. TestRecordLayout checks these
// against the types bpf2go generated from the C.
const (
	headerSize      = 96
	execFixedSize   = 176 // exec_record up to data[]
	exitRecordSize  = 104
	credsRecordSize = 136
	fileFixedSize   = 160 // file_record up to data[]
	sockRecordSize  = 416
	commLen         = 16
	ttyLen          = 32
)

// Record flags (enum record_flag).
const (
	flagArgsTruncated   = uint32(sensorRecordFlagFLAG_ARGS_TRUNCATED)
	flagExeTruncated    = uint32(sensorRecordFlagFLAG_EXE_TRUNCATED)
	flagCwdTruncated    = uint32(sensorRecordFlagFLAG_CWD_TRUNCATED)
	flagCgroupTruncated = uint32(sensorRecordFlagFLAG_CGROUP_TRUNCATED)
	flagArgsFault       = uint32(sensorRecordFlagFLAG_ARGS_FAULT)
	flagExeDeleted      = uint32(sensorRecordFlagFLAG_EXE_DELETED)
	flagExeDisconnected = uint32(sensorRecordFlagFLAG_EXE_DISCONNECTED)
	flagCwdDisconnected = uint32(sensorRecordFlagFLAG_CWD_DISCONNECTED)
	flagTTY             = uint32(sensorRecordFlagFLAG_TTY)
	flagLoginUID        = uint32(sensorRecordFlagFLAG_LOGINUID)
	flagPath1Truncated  = uint32(sensorRecordFlagFLAG_PATH1TRUNCATED)
	flagPath2Truncated  = uint32(sensorRecordFlagFLAG_PATH2TRUNCATED)
	flagPath1Disconn    = uint32(sensorRecordFlagFLAG_PATH1DISCONNECTED)
	flagPath2Disconn    = uint32(sensorRecordFlagFLAG_PATH2DISCONNECTED)
	flagStr1Truncated   = uint32(sensorRecordFlagFLAG_STR1TRUNCATED)
	flagStr2Truncated   = uint32(sensorRecordFlagFLAG_STR2TRUNCATED)
	flagCreated         = uint32(sensorRecordFlagFLAG_CREATED)
	flagPath1Exact      = uint32(sensorRecordFlagFLAG_PATH1EXACT)
	flagExeForeign      = uint32(sensorRecordFlagFLAG_EXE_FOREIGN)
	flagCwdForeign      = uint32(sensorRecordFlagFLAG_CWD_FOREIGN)
	flagPath1Foreign    = uint32(sensorRecordFlagFLAG_PATH1FOREIGN)
	flagPath2Foreign    = uint32(sensorRecordFlagFLAG_PATH2FOREIGN)
	flagPath1Root       = uint32(sensorRecordFlagFLAG_PATH1ROOT)
	flagPath2Root       = uint32(sensorRecordFlagFLAG_PATH2ROOT)
	flagOldCredsUnknown = uint32(sensorRecordFlagFLAG_OLD_CREDS_UNKNOWN)
	flagPath1Cwd        = uint32(sensorRecordFlagFLAG_PATH1CWD)
	flagPath2Cwd        = uint32(sensorRecordFlagFLAG_PATH2CWD)
)

// Offsets of the walk origins (struct walk_origin: dev u32, len u16).
const (
	execExeOrigin = 128
	execCwdOrigin = 136
	execTTY       = 144
	fileMntNS     = 140
	fileOrigin1   = 144
	fileOrigin2   = 152
)

var errShort = errors.New("record shorter than its layout")

// bootClock converts CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns,
// task->start_boottime) to wall-clock time.
type bootClock struct {
	// bootWall is the wall-clock time at which CLOCK_BOOTTIME was zero.
	bootWall time.Time
}

func (c bootClock) wall(bootNs uint64) time.Time {
	if bootNs == 0 {
		return time.Time{}
	}
	return c.bootWall.Add(time.Duration(bootNs))
}

// recordKind maps a record type to the event kind.
func recordKind(t uint32) event.Kind {
	switch sensorRecordType(t) {
	case sensorRecordTypeRECORD_EXEC:
		return event.KindExec
	case sensorRecordTypeRECORD_FORK:
		return event.KindFork
	case sensorRecordTypeRECORD_EXIT:
		return event.KindExit
	case sensorRecordTypeRECORD_CREDS:
		return event.KindCredentialsChange
	case sensorRecordTypeRECORD_FILE:
		return event.KindFileOpen // refined by the record's op
	case sensorRecordTypeRECORD_SOCK:
		return event.KindNetworkConnect // refined by the record's op
	}
	return event.KindUnknown
}

// fileKinds maps enum file_op to event kinds.
var fileKinds = map[uint32]event.Kind{
	uint32(sensorFileOpFILE_OP_OPEN):     event.KindFileOpen,
	uint32(sensorFileOpFILE_OP_RENAME):   event.KindFileRename,
	uint32(sensorFileOpFILE_OP_DELETE):   event.KindFileDelete,
	uint32(sensorFileOpFILE_OP_LINK):     event.KindFileLink,
	uint32(sensorFileOpFILE_OP_SYMLINK):  event.KindFileSymlink,
	uint32(sensorFileOpFILE_OP_MKDIR):    event.KindFileMkdir,
	uint32(sensorFileOpFILE_OP_CHMOD):    event.KindFileChmod,
	uint32(sensorFileOpFILE_OP_CHOWN):    event.KindFileChown,
	uint32(sensorFileOpFILE_OP_TRUNCATE): event.KindFileTruncate,
}

// record is a decoded ring-buffer record: the event and the kernel's
// identities of the processes it names, for the process cache.
type record struct {
	ev          *event.Event
	start       uint64 // the process's start_boottime
	parentStart uint64 // the parent's start_boottime (exec records only)
	// foreign lists the paths of the event that a process in another
	// mount tree (a container) named, for translate.
	foreign []foreignPath
	// oldCredsUnknown: a credentials record whose thread had made no
	// set*id call the kernel saw; the previous ids are the cache's.
	oldCredsUnknown bool
	// mntNS: a file record's process's mount namespace (inode number);
	// tid: its thread.
	mntNS, tid uint32
}

// decoder turns ring-buffer records into events. One goroutine uses it:
// it remembers the last record's comm. It reuses the file and socket events
// their last handler released (event.Event.Release): those are most of a
// busy stream, and each is some 500 bytes the garbage collector would
// otherwise have to reclaim.
type decoder struct {
	clock        bootClock
	comm         string    // the last comm decoded
	files, socks sync.Pool // of *fileEvent, *sockEvent
}

// The objects a record is decoded into: the event, its process's
// credentials and the part every record of its type has, in one
// allocation instead of three. They live as long as one another.
type (
	taskEvent struct {
		ev    event.Event
		creds event.Credentials
	}
	fileEvent struct {
		taskEvent
		file    event.File
		release func() // puts it back in its pool; made once
	}
	sockEvent struct {
		taskEvent
		network event.Network
		release func()
	}
)

// newEvent returns an empty event of kind (as recordKind gives it) with
// its credentials, and its File or Network: a released one when there is
// one.
func (d *decoder) newEvent(kind event.Kind) (*event.Event, *event.Credentials) {
	var t *taskEvent
	switch kind {
	case event.KindFileOpen:
		x, _ := d.files.Get().(*fileEvent)
		if x == nil {
			x = new(fileEvent)
			x.release = func() { d.files.Put(x) }
		}
		*x = fileEvent{release: x.release}
		t, x.ev.File = &x.taskEvent, &x.file
		x.ev.SetRelease(x.release)
	case event.KindNetworkConnect:
		x, _ := d.socks.Get().(*sockEvent)
		if x == nil {
			x = new(sockEvent)
			x.release = func() { d.socks.Put(x) }
		}
		*x = sockEvent{release: x.release}
		t, x.ev.Network = &x.taskEvent, &x.network
		x.ev.SetRelease(x.release)
	default:
		t = new(taskEvent)
	}
	t.ev.Process.Credentials = &t.creds
	return &t.ev, &t.creds
}

// commOf is the comm in b (NUL-terminated unless it fills b): the last
// record's string when the bytes are the same, as they are in a stream of
// records from one program, so that it allocates only when the comm
// changes.
func (d *decoder) commOf(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if string(b) != d.comm {
		d.comm = string(b)
	}
	return d.comm
}

// decode turns one ring-buffer record into an event. It trusts no
// length in the record: every length is checked against the bytes at hand.
// The event's identity fields come from the kernel; enrichment from the
// process cache happens later.
func (d *decoder) decode(b []byte) (record, error) {
	if len(b) < headerSize {
		return record{}, fmt.Errorf("header: %w (%d bytes)", errShort, len(b))
	}
	le := binary.LittleEndian
	typ := le.Uint32(b[0:])
	flags := le.Uint32(b[4:])
	kind := recordKind(typ)
	if kind == event.KindUnknown {
		return record{}, fmt.Errorf("unknown record type %d", typ)
	}
	ev, creds := d.newEvent(kind)
	ev.Kind = kind
	ev.Time = d.clock.wall(le.Uint64(b[8:]))
	startBoot := le.Uint64(b[16:])
	p := &ev.Process
	p.StartTime = d.clock.wall(startBoot)
	p.PID = le.Uint32(b[32:])
	p.ParentPID = le.Uint32(b[40:])
	if flags&flagLoginUID != 0 {
		p.LoginUID = le.Uint32(b[44:])
	} else {
		p.LoginUID = event.NoLoginUID
	}
	*creds = decodeCreds(b[48:80])
	p.Comm = d.commOf(b[80 : 80+commLen])

	var foreign []foreignPath
	var err error
	switch kind {
	case event.KindExec:
		if foreign, err = decodeExec(b, flags, ev); err != nil {
			return record{}, err
		}
	case event.KindExit:
		if len(b) < exitRecordSize {
			return record{}, fmt.Errorf("exit: %w (%d bytes)", errShort, len(b))
		}
		status := le.Uint32(b[96:])
		ev.Exit = &event.Exit{
			Code:       int(status>>8) & 0xff,
			Signal:     int(status & 0x7f),
			CoreDumped: status&0x80 != 0,
		}
	case event.KindFileOpen:
		if foreign, err = decodeFile(b, flags, ev); err != nil {
			return record{}, err
		}
	case event.KindNetworkConnect:
		if err := decodeSock(b, flags, ev); err != nil {
			return record{}, err
		}
	case event.KindCredentialsChange:
		if len(b) < credsRecordSize {
			return record{}, fmt.Errorf("credentials: %w (%d bytes)", errShort, len(b))
		}
		id := int(le.Uint32(b[128:]))
		ev.Credentials = &event.CredentialsChange{
			Previous:    decodeCreds(b[96:128]),
			SyscallID:   id,
			SyscallName: syscallName(id),
		}
	}
	r := record{ev: ev, start: startBoot, foreign: foreign, oldCredsUnknown: flags&flagOldCredsUnknown != 0}
	switch kind {
	case event.KindExec:
		r.parentStart = le.Uint64(b[96:])
	case event.KindFileOpen: // every file kind: decodeFile set ev.Kind
		r.mntNS = le.Uint32(b[fileMntNS:])
		r.tid = le.Uint32(b[36:])
	}
	return r, nil
}

func decodeCreds(b []byte) event.Credentials {
	le := binary.LittleEndian
	return event.Credentials{
		UID: le.Uint32(b[0:]), EUID: le.Uint32(b[4:]), SUID: le.Uint32(b[8:]), FSUID: le.Uint32(b[12:]),
		GID: le.Uint32(b[16:]), EGID: le.Uint32(b[20:]), SGID: le.Uint32(b[24:]), FSGID: le.Uint32(b[28:]),
	}
}

func decodeExec(b []byte, flags uint32, ev *event.Event) ([]foreignPath, error) {
	if len(b) < execFixedSize {
		return nil, fmt.Errorf("exec: %w (%d bytes)", errShort, len(b))
	}
	le := binary.LittleEndian
	argsLen := int(le.Uint16(b[116:]))
	exeLen := int(le.Uint16(b[118:]))
	cwdLen := int(le.Uint16(b[120:]))
	cgLen := int(le.Uint16(b[122:]))
	exeDev, exeFSLen := walkOrigin(b[execExeOrigin:])
	cwdDev, cwdFSLen := walkOrigin(b[execCwdOrigin:])
	data := b[execFixedSize:]
	if argsLen+exeLen+exeFSLen+cwdLen+cwdFSLen+cgLen > len(data) {
		return nil, fmt.Errorf("exec: lengths %d+%d+%d+%d+%d+%d exceed the %d data bytes: %w",
			argsLen, exeLen, exeFSLen, cwdLen, cwdFSLen, cgLen, len(data), errShort)
	}
	args, data := data[:argsLen], data[argsLen:]
	exe, data := data[:exeLen], data[exeLen:]
	exeFS, data := data[:exeFSLen], data[exeFSLen:]
	cwd, data := data[:cwdLen], data[cwdLen:]
	cwdFS, data := data[:cwdFSLen], data[cwdFSLen:]
	cg := data[:cgLen]

	x := &event.Exec{
		ArgsCount:        int(le.Uint32(b[112:])),
		SessionLeaderPID: le.Uint32(b[104:]),
		GroupLeaderPID:   le.Uint32(b[108:]),
		Interactive:      flags&flagTTY != 0,
	}
	if x.Interactive {
		x.TTY = ttyName(cString(b[execTTY : execTTY+ttyLen]))
	}
	ev.Exec = x

	if flags&flagArgsFault == 0 {
		var cut bool
		x.Args, cut = splitArgs(args, flags&flagArgsTruncated != 0)
		if cut {
			ev.Truncated = append(ev.Truncated, event.AttrCommandArgs)
		}
	}

	var foreign []foreignPath
	path, cut := joinComponents(exe, flags&flagExeTruncated != 0, flags&flagExeDisconnected != 0)
	deleted := ""
	if path != "" && flags&flagExeDeleted != 0 {
		deleted = " (deleted)"
		path += deleted
	}
	ev.Process.ExecutablePath = path
	if cut {
		ev.Truncated = append(ev.Truncated, event.AttrExecutablePath)
	}
	if flags&flagExeForeign != 0 {
		foreign = append(foreign, exactPath(event.AttrExecutablePath, &ev.Process.ExecutablePath, exeDev, exeFS, deleted))
	}
	x.WorkingDirectory, cut = joinComponents(cwd, flags&flagCwdTruncated != 0, flags&flagCwdDisconnected != 0)
	if cut {
		ev.Truncated = append(ev.Truncated, event.AttrWorkingDirectory)
	}
	if flags&flagCwdForeign != 0 {
		foreign = append(foreign, exactPath(event.AttrWorkingDirectory, &x.WorkingDirectory, cwdDev, cwdFS, ""))
	}
	ev.Process.CgroupPath, cut = joinComponents(cg, flags&flagCgroupTruncated != 0, false)
	if cut {
		ev.Truncated = append(ev.Truncated, event.AttrCgroup)
	}
	return foreign, nil
}

// walkOrigin reads a struct walk_origin: the device of the file system a
// foreign walk started in, and how many bytes of components (the path
// within that file system) follow the walk.
func walkOrigin(b []byte) (dev uint32, n int) {
	return binary.LittleEndian.Uint32(b), int(binary.LittleEndian.Uint16(b[4:]))
}

// A foreignPath is a path that a process in another mount tree (a
// container's) named, as the kernel reported it: the event holds the
// process's view (in dst); translate replaces it with the host's view of
// the same file when it can be named.
type foreignPath struct {
	attr string  // the attribute, as in event.Event.Truncated
	dst  *string // the event's field
	// dev and fsPath: the file system (kernel dev_t, 0 when unknown) and
	// the path within it of the dentry the kernel walked.
	dev    uint32
	fsPath string
	// suffix follows the host's view of fsPath: "" for the walked file
	// itself, "/" + a name the process passed, " (deleted)".
	suffix string
	// exact: fsPath + suffix is the file the kernel acted on. A name of
	// more than one component, or one the syscall follows (a symlink, a
	// mount point), may lead elsewhere than it does on the host.
	exact bool
	// check, for a name of several components the syscall does not
	// follow at its end, relative to the process's root (an absolute name,
	// without its leading "/") or working directory (from: "root", "cwd"):
	// it is exact if its directories lead from there through no mount and
	// no symbolic link (checkName).
	check, from string
}

// exactPath is the foreignPath of a walk of the file itself.
func exactPath(attr string, dst *string, dev uint32, fs []byte, suffix string) foreignPath {
	p := foreignPath{attr: attr, dst: dst, dev: dev, suffix: suffix, exact: true}
	var cut bool
	if p.fsPath, cut = joinComponents(fs, false, false); cut {
		p.dev = 0
	}
	return p
}

// Flags of the file syscalls (uapi fcntl.h, fs.h).
const (
	oAccMode        = 3
	oCreat          = 0o100
	oTrunc          = 0o1000
	oTmpfile        = 0o20000000
	atRemoveDir     = 0x200
	renameNoReplace = 1
	renameExchange  = 2
	nrRmdir         = 84
	nrUnlinkat      = 263
)

// decodeFile fills ev.File, which newEvent made.
func decodeFile(b []byte, flags uint32, ev *event.Event) ([]foreignPath, error) {
	if len(b) < fileFixedSize {
		return nil, fmt.Errorf("file: %w (%d bytes)", errShort, len(b))
	}
	le := binary.LittleEndian
	kind, ok := fileKinds[le.Uint32(b[108:])]
	if !ok {
		return nil, fmt.Errorf("file: unknown operation %d", le.Uint32(b[108:]))
	}
	ev.Kind = kind
	dev1, fsLen1 := walkOrigin(b[fileOrigin1:])
	dev2, fsLen2 := walkOrigin(b[fileOrigin2:])
	// str1, walk1, fs1, str2, walk2, fs2
	lens := [6]int{int(le.Uint16(b[132:])), int(le.Uint16(b[134:])), fsLen1,
		int(le.Uint16(b[136:])), int(le.Uint16(b[138:])), fsLen2}
	data := b[fileFixedSize:]
	total := 0
	for _, n := range lens {
		total += n
	}
	if total > len(data) {
		return nil, fmt.Errorf("file: lengths %v exceed the %d data bytes: %w", lens, len(data), errShort)
	}
	var parts [6][]byte
	for i, n := range lens {
		parts[i], data = data[:n], data[n:]
	}
	ret := int64(le.Uint64(b[96:]))
	id := int(le.Uint32(b[104:]))
	f := ev.File
	*f = event.File{
		SyscallID:   id,
		SyscallName: syscallName(id),
		OwnerID:     event.NoID,
		GroupID:     event.NoID,
	}
	if ret < 0 {
		f.Errno = int(-ret)
	}

	path1, cut1 := filePath(parts[0], parts[1], flags&flagStr1Truncated != 0,
		flags&flagPath1Truncated != 0, flags&flagPath1Disconn != 0, flags&flagPath1Root != 0)
	path2, cut2 := filePath(parts[3], parts[4], flags&flagStr2Truncated != 0,
		flags&flagPath2Truncated != 0, flags&flagPath2Disconn != 0, flags&flagPath2Root != 0)
	mark := func(cut bool, attr string) {
		if cut {
			ev.Truncated = append(ev.Truncated, attr)
		}
	}
	// Which attribute each path is: attr1/attr2 and their fields.
	var attr1, attr2 string
	var dst1, dst2 *string
	atFlags := le.Uint32(b[116:])
	mode := le.Uint32(b[120:])
	switch kind {
	case event.KindFileRename:
		f.PreviousPath, f.Path = path1, path2
		f.Exchange, f.NoReplace = atFlags&renameExchange != 0, atFlags&renameNoReplace != 0
		attr1, dst1, attr2, dst2 = event.AttrFilePreviousPath, &f.PreviousPath, event.AttrFilePath, &f.Path
		mark(cut1, event.AttrFilePreviousPath)
		mark(cut2, event.AttrFilePath)
	case event.KindFileLink:
		f.SourcePath, f.Path = path1, path2
		attr1, dst1, attr2, dst2 = event.AttrFileSourcePath, &f.SourcePath, event.AttrFilePath, &f.Path
		mark(cut1, event.AttrFileSourcePath)
		mark(cut2, event.AttrFilePath)
	case event.KindFileSymlink:
		// The target is a string the kernel stores, not a path it resolved.
		f.SymlinkTarget, f.Path = string(parts[0]), path2
		attr2, dst2 = event.AttrFilePath, &f.Path
		mark(flags&flagStr1Truncated != 0, event.AttrFileSymlinkTarget)
		mark(cut2, event.AttrFilePath)
	default:
		f.Path = path1
		attr1, dst1 = event.AttrFilePath, &f.Path
		mark(cut1, event.AttrFilePath)
	}
	var foreign []foreignPath
	if flags&flagPath1Foreign != 0 && dst1 != nil {
		foreign = append(foreign, stringPath(attr1, dst1, dev1, parts[2], parts[0],
			flags&flagPath1Exact != 0, flags&flagStr1Truncated != 0, nameOnly(kind, 1), base(flags, flagPath1Root, flagPath1Cwd)))
	}
	if flags&flagPath2Foreign != 0 && dst2 != nil {
		foreign = append(foreign, stringPath(attr2, dst2, dev2, parts[5], parts[3],
			false, flags&flagStr2Truncated != 0, nameOnly(kind, 2), base(flags, flagPath2Root, flagPath2Cwd)))
	}
	switch kind {
	case event.KindFileOpen:
		of := le.Uint32(b[112:])
		f.Flags = of
		f.Access = event.Access(of & oAccMode)
		if f.Access > event.AccessReadWrite {
			f.Access = event.AccessReadWrite
		}
		f.Created = flags&flagCreated != 0
		f.Truncated = of&oTrunc != 0 && f.Access != event.AccessRead && f.Errno == 0
		if of&oCreat != 0 || of&oTmpfile == oTmpfile {
			f.Mode, f.HasMode = mode&0o7777, true
		}
	case event.KindFileMkdir, event.KindFileChmod:
		f.Mode, f.HasMode = mode&0o7777, true
	case event.KindFileChown:
		f.OwnerID, f.GroupID = le.Uint32(b[124:]), le.Uint32(b[128:])
	case event.KindFileDelete:
		f.Directory = id == nrRmdir || (id == nrUnlinkat && atFlags&atRemoveDir != 0)
	}
	return foreign, nil
}

// nameOnly reports whether path n (1 or 2) of a file event of kind is a
// name the syscall acts on without following it: the last component is not
// resolved through a symbolic link or onto a mount on it (a mount point
// cannot be removed or renamed: EBUSY; a new name is not one yet). unlink,
// rmdir, rename, mkdir, and the new name of link and symlink. The others
// (open, chmod, chown, truncate, link's source) follow the name.
func nameOnly(kind event.Kind, n int) bool {
	switch kind {
	case event.KindFileDelete, event.KindFileMkdir:
		return n == 1
	case event.KindFileRename:
		return true
	case event.KindFileLink, event.KindFileSymlink:
		return n == 2
	}
	return false
}

// base names the directory a path string is relative to, for checkName:
// "root", "cwd", or "" (a dirfd's).
func base(flags, root, cwd uint32) string {
	switch {
	case flags&root != 0:
		return "root"
	case flags&cwd != 0:
		return "cwd"
	}
	return ""
}

// stringPath is the foreignPath of a file path: the walk of the file itself
// (exactFd), or a string and the walk of the directory (or, for an
// absolute string, the root) it is relative to. The string leads where
// the host would take it only when it is one name the syscall does not
// follow: more components may cross a mount only the process has, or a
// symbolic link that resolves elsewhere from the host's root.
func stringPath(attr string, dst *string, dev uint32, fs, str []byte, exactFd, strCut, nameOnly bool, from string) foreignPath {
	p := exactPath(attr, dst, dev, fs, "")
	if exactFd || len(str) == 0 {
		return p
	}
	name := strings.TrimPrefix(string(str), "/")
	p.suffix = "/" + name
	p.exact = !strCut && nameOnly && name != "" && name != "." && name != ".." && !strings.Contains(name, "/")
	if !p.exact && !strCut && nameOnly && from != "" && strings.Contains(name, "/") && path.Clean(name) == name &&
		!strings.HasPrefix(name, "../") && !strings.HasSuffix(name, "/..") {
		p.check, p.from = name, from
	}
	return p
}

// sockKinds maps enum sock_op to event kinds.
var sockKinds = map[uint32]event.Kind{
	uint32(sensorSockOpSOCK_OP_CONNECT): event.KindNetworkConnect,
	uint32(sensorSockOpSOCK_OP_ACCEPT):  event.KindNetworkAccept,
	uint32(sensorSockOpSOCK_OP_BIND):    event.KindNetworkBind,
	uint32(sensorSockOpSOCK_OP_LISTEN):  event.KindNetworkListen,
}

const (
	afUnix      = 1
	afInet      = 2
	afInet6     = 10
	ipprotoTCP  = 6
	ipprotoUDP  = 17
	einprogress = 115
)

// decodeSock fills ev.Network, which newEvent made.
func decodeSock(b []byte, flags uint32, ev *event.Event) error {
	if len(b) < sockRecordSize {
		return fmt.Errorf("socket: %w (%d bytes)", errShort, len(b))
	}
	le := binary.LittleEndian
	kind, ok := sockKinds[le.Uint32(b[108:])]
	if !ok {
		return fmt.Errorf("socket: unknown operation %d", le.Uint32(b[108:]))
	}
	ev.Kind = kind
	ret := int64(le.Uint64(b[96:]))
	id := int(le.Uint32(b[104:]))
	n := ev.Network
	*n = event.Network{
		Family:      int(le.Uint16(b[112:])),
		SocketType:  int(le.Uint16(b[114:])),
		Protocol:    int(le.Uint16(b[116:])),
		SyscallID:   id,
		SyscallName: syscallName(id),
	}
	switch {
	case ret == -einprogress:
		n.InProgress = true
	case ret < 0:
		n.Errno = int(-ret)
	}
	localPort, peerPort := int(le.Uint16(b[118:])), int(le.Uint16(b[120:]))
	localUnixLen, peerUnixLen := min(int(le.Uint16(b[122:])), 108), min(int(le.Uint16(b[124:])), 108)
	localAddr, peerAddr := b[128:144], b[144:160]
	localUnix, peerUnix := b[160:160+localUnixLen], b[288:288+peerUnixLen]
	n.PeerFromCall = flags&uint32(sensorRecordFlagFLAG_REMOTE_FROM_CALL) != 0

	switch n.Family {
	case afInet, afInet6:
		n.Type = "ipv4"
		if n.Family == afInet6 {
			n.Type = "ipv6"
		}
		switch n.Protocol {
		case ipprotoTCP:
			n.Transport = "tcp"
		case ipprotoUDP:
			n.Transport = "udp"
		}
		n.LocalAddress = ipString(n.Family, localAddr)
		n.LocalPort = localPort
		// An unconnected socket has no peer: 0.0.0.0 / :: port 0.
		if peer := ipString(n.Family, peerAddr); peerPort != 0 || !isZero(peerAddr) {
			n.PeerAddress, n.PeerPort = peer, peerPort
		}
	case afUnix:
		n.Transport = "unix"
		n.LocalAddress, n.LocalAbstract = unixName(localUnix)
		n.PeerAddress, n.PeerAbstract = unixName(peerUnix)
	}
	return nil
}

func ipString(family int, b []byte) string {
	if family == afInet {
		return netip.AddrFrom4([4]byte(b[:4])).String()
	}
	return netip.AddrFrom16([16]byte(b[:16])).String()
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// unixName turns a sun_path into a name: a path ends at its first NUL; an
// abstract name (leading NUL) is every byte after it, shown with "@".
func unixName(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", false
	}
	if b[0] == 0 {
		return "@" + string(b[1:]), true
	}
	return cString(b), false
}

// filePath assembles a path from the string a process passed and the walk
// of the directory it is relative to (or, with no string, of the file
// itself). An absolute string stands alone, unless root says that the walk
// is of the process's root directory (a process in another mount
// namespace, whose root may be a directory of its tree). Whatever could
// not be resolved fully is reported cut: never a wrong absolute path.
func filePath(str, walk []byte, strCut, walkCut, disconnected, root bool) (string, bool) {
	if len(str) > 0 && str[0] == '/' {
		if root && !walkCut && !disconnected {
			if base, _ := joinComponents(walk, false, false); base != "/" {
				return base + string(str), strCut
			}
		}
		return string(str), strCut
	}
	w := parseWalk(walk, walkCut, disconnected)
	cut := w.cut || strCut
	if len(str) == 0 {
		return w.join(nil), cut
	}
	if w.length() > 1 {
		return w.join(str), cut // base + "/" + str
	}
	switch base := w.join(nil); base {
	case "":
		return string(str), true
	case "/":
		return "/" + string(str), cut
	default:
		return base + "/" + string(str), cut
	}
}

// splitArgs splits the NUL-separated argument area. The area of a complete
// argv ends with a NUL; when the kernel cut it, the last argument is partial.
func splitArgs(b []byte, truncated bool) ([]string, bool) {
	if len(b) == 0 {
		return []string{}, truncated
	}
	if !truncated && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	n := bytes.Count(b, []byte{0}) + 1
	args := make([]string, 0, n)
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			args = append(args, string(b))
			break
		}
		args = append(args, string(b[:i]))
		b = b[i+1:]
	}
	return args, truncated
}

// joinComponents builds a path from NUL-terminated components stored leaf
// first. A complete walk gives an absolute path. A walk cut short gives the
// tail it has, without a leading "/", and reports the cut. A disconnected
// dentry (memfd, pipe) gives its name alone, as d_path() does.
func joinComponents(b []byte, truncated, disconnected bool) (string, bool) {
	w := parseWalk(b, truncated, disconnected)
	return w.join(nil), w.cut
}

// walkPath is a walk parsed for joinComponents: its complete components
// and the form of the path they make.
type walkPath struct {
	comps   []byte // the complete components, each NUL-terminated, leaf first
	n, size int    // how many, and their bytes without the NULs
	abs     bool   // the path starts with "/"
	cut     bool
}

func parseWalk(b []byte, truncated, disconnected bool) walkPath {
	w := walkPath{comps: b}
	for rest := b; len(rest) > 0; {
		i := bytes.IndexByte(rest, 0)
		if i < 0 { // a component the kernel cut: unusable
			truncated = true
			w.comps = b[:len(b)-len(rest)]
			break
		}
		w.n++
		w.size += i
		rest = rest[i+1:]
	}
	switch {
	case w.n == 0:
		w.abs, w.cut = !truncated && !disconnected, truncated
	case disconnected && w.n == 1 && !truncated:
		w.abs = true
	default:
		w.abs = !truncated && !disconnected
		w.cut = truncated || disconnected
	}
	return w
}

// length is the length of the path join(nil) makes.
func (w walkPath) length() int {
	if w.n == 0 {
		if w.abs {
			return 1
		}
		return 0
	}
	n := w.size + w.n - 1
	if w.abs {
		n++
	}
	return n
}

// join makes the path, root first, followed by "/" + name when name is not
// empty (whatever the path: "" and "/" too), in one allocation of the
// exact size, where joining a slice of the components and then prefixing
// and suffixing the result took a few.
func (w walkPath) join(name []byte) string {
	if w.n == 0 && len(name) == 0 {
		if w.abs {
			return "/"
		}
		return ""
	}
	n := w.length()
	if len(name) > 0 {
		n += 1 + len(name)
	}
	if n == 0 { // one empty component
		return ""
	}
	out := make([]byte, n)
	// Filled from the end: the components come leaf first.
	pos := n
	if len(name) > 0 {
		pos -= len(name)
		copy(out[pos:], name)
		pos--
		out[pos] = '/'
	}
	for b := w.comps; len(b) > 0; {
		i := bytes.IndexByte(b, 0)
		pos -= i
		copy(out[pos:], b[:i])
		if pos > 0 {
			pos--
			out[pos] = '/'
		}
		b = b[i+1:]
	}
	if w.n == 0 && w.abs {
		out[0] = '/'
	}
	// out is not written again: the string may share its bytes.
	return unsafe.String(&out[0], n)
}

// ttyName gives the kernel's tty name as users know it from /dev: pty
// slaves are "pts3" in the kernel (tty_line_name) and /dev/pts/3 on disk.
func ttyName(kernel string) string {
	if n, ok := strings.CutPrefix(kernel, "pts"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		return "pts/" + n
	}
	return kernel
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// syscallNames names the x86_64 syscalls the programs hook.
var syscallNames = map[int]string{
	2: "open", 76: "truncate", 77: "ftruncate", 82: "rename", 83: "mkdir", 84: "rmdir", 85: "creat",
	86: "link", 87: "unlink", 88: "symlink", 90: "chmod", 91: "fchmod", 92: "chown", 93: "fchown",
	94: "lchown", 105: "setuid", 106: "setgid", 113: "setreuid", 114: "setregid", 117: "setresuid",
	119: "setresgid", 122: "setfsuid", 123: "setfsgid", 257: "openat", 258: "mkdirat", 260: "fchownat",
	263: "unlinkat", 264: "renameat", 265: "linkat", 266: "symlinkat", 268: "fchmodat", 316: "renameat2",
	437: "openat2", 452: "fchmodat2", 42: "connect", 43: "accept", 49: "bind", 50: "listen", 288: "accept4",
}

func syscallName(id int) string { return syscallNames[id] }

// SyscallID is the x86_64 number of a syscall the programs hook.
func SyscallID(name string) (int, bool) {
	for id, n := range syscallNames {
		if n == name {
			return id, true
		}
	}
	return 0, false
}

// hostPaths names where the host sees a path within a file system (see
// mounts.Host).
type hostPaths interface {
	HostPath(dev uint32, p string) (string, bool)
}

// translate puts the host's view of each path a process in another mount
// tree named into the event, keeping the process's view beside it; a path
// the host's view of which cannot be named stays the process's, and is
// listed in HostPathUnknown. h may be nil (nothing can be named).
func translate(h hostPaths, r record) {
	ev := r.ev
	for _, p := range r.foreign {
		view := *p.dst
		if p.dev != 0 && (p.exact || p.check != "") && h != nil {
			host, ok := h.HostPath(p.dev, p.fsPath)
			if ok && !p.exact {
				ok = checkName(procDirs(ev.Process.PID, r.tid, ev.Process.ParentPID), r.mntNS, p.from, host, p.check)
			}
			if ok {
				if host == "/" && strings.HasPrefix(p.suffix, "/") {
					host = ""
				}
				*p.dst = host + p.suffix
				ev.SetProcessView(p.attr, *p.dst, view)
				continue
			}
		}
		ev.HostPathUnknown = append(ev.HostPathUnknown, p.attr)
	}
}
