/* Record layouts shared by the eBPF programs and the Go decoder.
 *
 * Go types are generated from these by bpf2go (-type) and must stay free of
 * implicit padding: every struct is padded by hand so that its layout is the
 * same in C and in Go. Multi-byte fields are little-endian (the programs are
 * built for bpfel only).
 */
#ifndef OTEL_SENSOR_H
#define OTEL_SENSOR_H

/* Bytes of argv captured per exec; longer argument areas are cut and marked. */
#define ARGS_MAX 16384
/* Bytes of path components captured per path; longer paths are cut and marked. */
#define PATH_BYTES_MAX 4352
/* Room for one path component (NAME_MAX + NUL). */
#define NAME_CHUNK 256
/* Bytes of a path string read from user memory (PATH_MAX). */
#define USER_PATH_MAX 4096
/* The per-CPU scratch buffer: records are built here at absolute offsets
 * below SCRATCH_LIMIT; a string read may start just below it. */
#define SCRATCH_LIMIT 32768
#define SCRATCH_MASK (SCRATCH_LIMIT - 1)
#define SCRATCH_SIZE (SCRATCH_LIMIT + USER_PATH_MAX)
/* Path components walked at most (bounds the bpf_loop). */
#define PATH_DEPTH_MAX 1024
/* Cgroup hierarchy levels walked at most. */
#define CGROUP_DEPTH_MAX 16
#define COMM_LEN 16
#define TTY_LEN 32

enum record_type {
	RECORD_EXEC = 1,
	RECORD_FORK = 2,
	RECORD_EXIT = 3,
	RECORD_CREDS = 4,
	RECORD_FILE = 5,
	RECORD_SOCK = 6,
	RECORD_TYPE_MAX = 7,
};

/* Drops of file records are counted per operation, at index
 * DROP_FILE_BASE + op (see the drops map) ... */
#define DROP_FILE_BASE RECORD_TYPE_MAX
/* ... and socket records at DROP_SOCK_BASE + op. */
#define DROP_SOCK_BASE (DROP_FILE_BASE + 16)
#define DROP_KEYS ((DROP_SOCK_BASE + 8) * DROP_REASON_MAX)

enum drop_reason {
	/* The ring buffer had no room for the record. */
	DROP_RINGBUF_FULL = 0,
	/* The per-CPU scratch buffer could not be found (never expected). */
	DROP_NO_SCRATCH = 1,
	/* The thread's task_creds entry could not be made (out of memory): a
	 * credentials change may have gone unreported. */
	DROP_NO_STORAGE = 2,
	DROP_REASON_MAX = 3,
};

/* record_header.flags */
enum record_flag {
	FLAG_ARGS_TRUNCATED = 1 << 0,
	FLAG_EXE_TRUNCATED = 1 << 1,
	FLAG_CWD_TRUNCATED = 1 << 2,
	FLAG_CGROUP_TRUNCATED = 1 << 3,
	/* argv could not be read from the new image's memory. */
	FLAG_ARGS_FAULT = 1 << 4,
	/* The executable's dentry is unlinked (deleted file, memfd). */
	FLAG_EXE_DELETED = 1 << 5,
	/* A path walk ended at a dentry that is not the root of a mount:
	 * components are the tail of the path only. */
	FLAG_EXE_DISCONNECTED = 1 << 6,
	FLAG_CWD_DISCONNECTED = 1 << 7,
	/* The task has a controlling terminal. */
	FLAG_TTY = 1 << 8,
	/* The kernel has an audit loginuid for the task. */
	FLAG_LOGINUID = 1 << 9,
	/* file_record: path 1 and 2 walks cut, disconnected; strings cut. */
	FLAG_PATH1_TRUNCATED = 1 << 10,
	FLAG_PATH2_TRUNCATED = 1 << 11,
	FLAG_PATH1_DISCONNECTED = 1 << 12,
	FLAG_PATH2_DISCONNECTED = 1 << 13,
	FLAG_STR1_TRUNCATED = 1 << 14,
	FLAG_STR2_TRUNCATED = 1 << 15,
	/* file_record: the open created the file (FMODE_CREATED). */
	FLAG_CREATED = 1 << 16,
	/* file_record: path 1 is the file itself (walked from an fd), not
	 * the directory the string is relative to. */
	FLAG_PATH1_EXACT = 1 << 17,
	/* sock_record: the remote address is the one the caller passed (a
	 * failed connect), not the socket's. */
	FLAG_REMOTE_FROM_CALL = 1 << 18,
	/* A path walk ended at the root of a mount tree that is not the
	 * host's (a container's, or any other mount namespace's): the path is
	 * as that tree shows it. The record's walk_origin for the path says
	 * where the file is in its own file system, for user space to find
	 * where the host sees it. */
	FLAG_EXE_FOREIGN = 1 << 19,
	FLAG_CWD_FOREIGN = 1 << 20,
	FLAG_PATH1_FOREIGN = 1 << 21,
	FLAG_PATH2_FOREIGN = 1 << 22,
	/* file_record: string 1 / 2 is absolute and its walk is the process's
	 * root directory (walked only when the process is not in the host's
	 * mount namespace). */
	FLAG_PATH1_ROOT = 1 << 23,
	FLAG_PATH2_ROOT = 1 << 24,
	/* creds: the thread had no task_creds entry, old is not known (the
	 * sensor takes it from its process cache) */
	FLAG_OLD_CREDS_UNKNOWN = 1 << 25,
	/* file_record: string 1 / 2 is relative to the working directory
	 * (AT_FDCWD), which its walk is. */
	FLAG_PATH1_CWD = 1 << 26,
	FLAG_PATH2_CWD = 1 << 27,
};

/* Exclusions (maps excluded_*): why an event was not emitted. */
enum exclusion {
	EXCLUDED_INITIATOR = 0, /* its process runs an excluded executable */
	EXCLUDED_PATH = 1,      /* its file is, or is below, an excluded path */
	EXCLUDED_SYSCALL = 2,   /* its syscall is excluded */
	EXCLUSION_MAX = 3,
};

/* excluded_tasks values and excluded_exes flags. */
enum exclusion_mark {
	MARK_EXCLUDED = 1,    /* the process's events are not emitted */
	MARK_DESCENDANTS = 2, /* ... nor those of the processes it starts */
};

/* excluded_inodes flags. */
enum path_exclusion {
	PATH_EXACT = 1,   /* this file */
	PATH_SUBTREE = 2, /* this directory and everything below it */
};

/* The exclusion_flags map's value: which exclusions are set, so that the
 * programs skip the lookups when none are. */
enum exclusion_state {
	EXCLUDING_INODES = 1,   /* excluded_inodes has entries */
	EXCLUDING_PREFIXES = 2, /* excluded_prefixes has entries */
	EXCLUDING_TASKS = 4,    /* excluded_exes has entries (and so excluded_tasks may) */
};

/* Bytes of an absolute path string matched against excluded_prefixes (the
 * LPM trie's data limit). */
#define PREFIX_MAX 256

/* excluded_prefixes key: an excluded directory as "/dir/" (everything
 * below it) and an excluded file or directory as "/path\0" (that path), so
 * a path string read with its NUL matches only what it should. */
struct prefix_key {
	__u32 prefixlen; /* bits */
	__u8 data[PREFIX_MAX];
};

/* An inode, the key of the executable and path exclusions: robust against
 * bind mounts, hard links and renames of the directories above. */
struct inode_key {
	__u64 ino;
	__u32 dev; /* super_block->s_dev: MKDEV(major, minor) = major << 20 | minor, not stat(2)'s st_dev */
	__u32 _pad;
};

/* What a sock_record reports. */
enum sock_op {
	SOCK_OP_CONNECT = 1,
	SOCK_OP_ACCEPT = 2,
	SOCK_OP_BIND = 3,
	SOCK_OP_LISTEN = 4,
};

#define UNIX_PATH_LEN 108
/* Room for a sun_path, sized so that a 0x7f mask bounds every copy. */
#define UNIX_NAME_ROOM 128

/* What a file_record reports. */
enum file_op {
	FILE_OP_OPEN = 1,
	FILE_OP_RENAME = 2,
	FILE_OP_DELETE = 3,
	FILE_OP_LINK = 4,
	FILE_OP_SYMLINK = 5,
	FILE_OP_MKDIR = 6,
	FILE_OP_CHMOD = 7,
	FILE_OP_CHOWN = 8,
	FILE_OP_TRUNCATE = 9,
};

/* Which opens are reported (open_mode). */
enum open_mode {
	OPEN_NONE = 0,
	OPEN_WRITES = 1,
	OPEN_ALL = 2,
};

struct cred_ids {
	__u32 uid, euid, suid, fsuid;
	__u32 gid, egid, sgid, fsgid;
};

/* The process a record is about. */
struct task_ctx {
	__u64 ktime;      /* bpf_ktime_get_boot_ns() when it happened */
	__u64 start_time; /* thread-group leader's start_boottime */
	__u64 cgroup_id;  /* cgroup v2 id (kernfs node id) */
	__u32 pid;        /* tgid */
	__u32 tid;
	__u32 ppid;       /* real parent's tgid */
	__u32 loginuid;
	struct cred_ids creds;
	char comm[COMM_LEN];
};

struct record_header {
	__u32 type;
	__u32 flags;
	struct task_ctx task;
};

/* Where the file a walk started at is in its own file system, for a walk
 * that ended in a foreign mount tree (FLAG_*_FOREIGN): the len bytes that
 * follow the walk are the components (leaf first, NUL-terminated) from the
 * file up to the root of its file system, whose device is dev. A bind
 * mount's root is a directory deep in its file system; these components
 * include the way there. dev is 0 when the walk did not get to the root. */
struct walk_origin {
	__u32 dev; /* super_block->s_dev: MKDEV(major, minor) = major << 20 | minor */
	__u16 len;
	__u16 _pad;
};

struct exec_record {
	struct record_header hdr;
	__u64 parent_start_time;
	__u32 sid;
	__u32 pgid;
	__u32 argc;
	__u16 args_len;   /* bytes of argv in data */
	__u16 exe_len;    /* bytes of executable path components after argv */
	__u16 cwd_len;    /* bytes of cwd components after those (and exe_origin's) */
	__u16 cgroup_len; /* bytes of cgroup path components after those (and cwd_origin's) */
	__u32 _pad;
	struct walk_origin exe_origin; /* FLAG_EXE_FOREIGN */
	struct walk_origin cwd_origin; /* FLAG_CWD_FOREIGN */
	char tty[TTY_LEN];
	/* argv (NUL-separated as in the process's memory), then the
	 * executable, cwd and cgroup paths as NUL-terminated components,
	 * leaf first, the executable and cwd each followed by its origin's
	 * len bytes. Only the used part is sent. */
	__u8 data[];
};

struct fork_record {
	struct record_header hdr; /* the child */
};

struct exit_record {
	struct record_header hdr;
	__u32 exit_code; /* wait status: code << 8 | core dump 0x80 | signal */
	__u32 _pad;
};

struct creds_record {
	struct record_header hdr; /* creds are the new ones */
	struct cred_ids old;
	__u32 syscall_id;
	__u32 _pad;
};

/* A file operation, written at syscall exit. Each of the two paths is the
 * string the process passed, then the walk (components, leaf first) of the
 * directory that string is relative to, either possibly empty:
 *  - from an fd (open's result, fchmod/fchown/ftruncate): no string, the
 *    walk of the file itself, FLAG_PATH1_EXACT;
 *  - a relative string: the string, then the walk of its dirfd or the cwd;
 *  - an absolute string: the string only.
 * Path 2 is the new name of rename and link, and the link of symlink (whose
 * string 1 is the target as given, not resolved). An absolute string has no
 * walk, unless the process is not in the host's mount namespace: then its
 * walk is the process's root directory (FLAG_PATHn_ROOT). data holds, in
 * order: str1, walk1, origin1's bytes, str2, walk2, origin2's bytes. */
struct file_record {
	struct record_header hdr;
	__s64 ret;        /* the syscall's return value */
	__u32 syscall_id;
	__u32 op;         /* enum file_op */
	__u32 open_flags; /* open: O_* flags */
	__u32 at_flags;   /* unlinkat/linkat/fchownat/fchmodat2 AT_* flags, renameat2 RENAME_* flags */
	__u32 mode;       /* open/mkdir/chmod mode */
	__u32 uid;        /* chown: new owner (-1 unchanged) */
	__u32 gid;        /* chown: new group (-1 unchanged) */
	__u16 str1_len;
	__u16 walk1_len;
	__u16 str2_len;
	__u16 walk2_len;
	__u32 mnt_ns; /* the process's mount namespace (inode number) */
	struct walk_origin origin1; /* FLAG_PATH1_FOREIGN */
	struct walk_origin origin2; /* FLAG_PATH2_FOREIGN */
	__u8 data[];
};

/* A socket operation, written at syscall exit from the socket itself:
 * family, type, protocol and addresses as the kernel holds them. */
struct sock_record {
	struct record_header hdr;
	__s64 ret;
	__u32 syscall_id;
	__u32 op;          /* enum sock_op */
	__u16 family;      /* AF_* */
	__u16 type;        /* SOCK_* */
	__u16 protocol;    /* IPPROTO_* */
	__u16 local_port;  /* host order */
	__u16 remote_port; /* host order */
	__u16 local_unix_len;  /* bytes of local_unix (abstract names start with NUL) */
	__u16 remote_unix_len;
	__u16 _pad;
	__u8 local_addr[16];  /* IPv4 in the first 4 bytes, network order */
	__u8 remote_addr[16];
	char local_unix[UNIX_NAME_ROOM];
	char remote_unix[UNIX_NAME_ROOM];
};

/* The scratch buffer records are built in (one slot per CPU). */
struct scratch {
	__u8 buf[SCRATCH_SIZE];
	struct prefix_key key; /* a lookup key too large for the stack */
};

#endif
