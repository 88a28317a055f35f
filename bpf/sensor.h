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
/* Variable data area of an exec record: argv, then three component lists. */
#define DATA_SIZE 32768
#define DATA_MASK (DATA_SIZE - 1)
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
	RECORD_TYPE_MAX = 5,
};

enum drop_reason {
	/* The ring buffer had no room for the record. */
	DROP_RINGBUF_FULL = 0,
	/* The per-CPU scratch buffer could not be found (never expected). */
	DROP_NO_SCRATCH = 1,
	DROP_REASON_MAX = 2,
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

struct exec_record {
	struct record_header hdr;
	__u64 parent_start_time;
	__u32 sid;
	__u32 pgid;
	__u32 argc;
	__u16 args_len;   /* bytes of argv in data */
	__u16 exe_len;    /* bytes of executable path components after argv */
	__u16 cwd_len;    /* bytes of cwd components after those */
	__u16 cgroup_len; /* bytes of cgroup path components after those */
	__u32 _pad;
	char tty[TTY_LEN];
	/* argv (NUL-separated as in the process's memory), then the
	 * executable, cwd and cgroup paths as NUL-terminated components,
	 * leaf first. Only the used part is sent. */
	__u8 data[DATA_SIZE + NAME_CHUNK];
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

#endif
