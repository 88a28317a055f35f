//go:build ignore

/* Process events: exec, fork, exit and credential changes.
 *
 * Hook choice. Everything here attaches to BTF-enabled raw tracepoints
 * (tp_btf): they need neither kprobes nor tracefs, take typed arguments, and
 * load on every kernel with BTF since 5.5. fentry/fexit and LSM programs would
 * see more, but are refused on some hardened kernels (ours among them).
 *
 *  - sched_process_exec: fires in exec_binprm() after the new image is set up
 *    (begin_new_exec has run), so current->mm holds the new argv and
 *    bprm->file is the file really executed (the interpreter for scripts).
 *  - sched_process_fork: fires in kernel_clone() after copy_process(); the
 *    child is complete (ids, creds, start_boottime) but has not run yet.
 *    Threads (CLONE_THREAD) fire it too and are filtered out.
 *  - sched_process_exit: fires in do_exit() after signal->live was
 *    decremented and exit_code set, once per thread; the process has ended
 *    for the thread that took live to zero (group_dead, see handle_exit).
 *  - sys_exit: the file, socket and set*id syscalls, all at their exit (the
 *    set*id family has no tracepoint of its own); the program returns after
 *    one range check for every other syscall. Nothing hooks syscall entry.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "sensor.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Kernel memory the programs reach through pointers they did not get typed
 * (read from the fd table, or carried between the steps of a loop) is read
 * with direct loads through bpf_rdonly_cast, a kfunc since 6.2: the verifier
 * types the pointer from the kernel's BTF, and the JIT turns each load into
 * one instruction that reads 0 on a fault, instead of a bpf_probe_read_kernel
 * call (about 20 ns each; a third of what the kernel spent on a file.open
 * record went to them). The kfunc is weak, so that the object loads on an
 * older kernel; the loader sets direct_loads when the kernel has it (tests
 * clear it to run the other path here), and the verifier drops the branches
 * not taken. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
const volatile bool direct_loads = false;

#define kcast(ptr, type) ((type *)bpf_rdonly_cast((const void *)(ptr), bpf_core_type_id_kernel(type)))

/* Field (or embedded path of fields, a.b) of the kernel struct type at ptr:
 * a direct load where the kernel has bpf_rdonly_cast, a read call before. */
#define KREAD(type, ptr, field) \
	(direct_loads ? kcast(ptr, type)->field : BPF_CORE_READ((type *)(ptr), field))

/* Set by the loader before the programs are loaded. */
const volatile __u32 self_tgid = 0;      /* the sensor itself: never reported */
const volatile __u32 watch_ppid = 0;     /* when set, only this process's children */
const volatile __u64 wakeup_bytes = 0;   /* wake the reader once this much is pending */
const volatile __u64 urgent_bytes = 0;   /* wake it on every record past this */
const volatile __u32 open_mode = OPEN_WRITES; /* enum open_mode: which opens are reported */
const volatile bool report_failed = false;   /* report file syscalls that failed */
/* The host's mount tree, from /proc/1/mountinfo (the sensor may run in a
 * container of its own): the id of the mount at the root of the tree, the
 * parent of "/" (the rootfs), where every path walk on the host ends. 0:
 * unknown; paths are then as the process's mount tree shows them. */
const volatile __u32 host_tree_root = 0;
/* The mount id of the host's "/" (a process whose root is elsewhere is
 * chrooted or in another mount namespace). */
const volatile __u32 host_root_mnt = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by the loader */
} events SEC(".maps");

/* Records that could not be emitted, by record type and reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_KEYS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Calls of the hooked syscalls, by syscall id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} syscall_counts SEC(".maps");

/* Exec and file records are built here: they are too large for the stack
 * and for a per-CPU array value (32 KiB limit), so each CPU gets one slot of
 * a plain array, indexed by bpf_get_smp_processor_id(). The loader sizes it
 * to the possible CPUs. Only the used bytes go to the ring buffer. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* The arguments of a file or socket syscall, from its saved registers. */
struct call_args {
	__u64 args[6];
	__u32 id;
	__u32 _pad;
};

/* The credentials each thread had after its last set*id call (or exec),
 * kept with the thread and freed with it: what a set*id call changed is
 * the difference at its exit, with no hook at syscall entry. A thread
 * without an entry has not made such a call since the sensor started; the
 * sensor then takes the previous ids from its process cache. */
struct task_creds {
	struct cred_ids ids;
	__u32 known; /* ids are set (a new entry is all zeros: root's ids) */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_creds);
} task_creds SEC(".maps");

/* Exclusions, kept up to date by the sensor at run time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u8);
} excluded_syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct inode_key);
	__type(value, __u32); /* enum exclusion_mark */
} excluded_exes SEC(".maps");

/* Processes whose events are not emitted, by tgid: marked at exec (their
 * executable is excluded) and at fork (their parent's mark has
 * MARK_DESCENDANTS), removed at exit; seeded by the sensor for processes
 * that were running before. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} excluded_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct inode_key);
	__type(value, __u32); /* enum path_exclusion */
} excluded_inodes SEC(".maps");

/* Excluded paths as strings, for operations given an absolute path string,
 * which are not walked (struct prefix_key). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2048);
	__type(key, struct prefix_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} excluded_prefixes SEC(".maps");

/* enum exclusion_state: which exclusion maps have entries. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} exclusion_flags SEC(".maps");

/* Events not emitted because of an exclusion, by enum exclusion. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EXCLUSION_MAX);
	__type(key, __u32);
	__type(value, __u64);
} excluded_counts SEC(".maps");

/* Keeps every shared type in the object's BTF so that bpf2go can generate
 * its Go twin (types only used in casts or constants would be dropped). */
struct btf_anchor {
	struct inode_key inode_key;
	enum exclusion exclusion;
	enum exclusion_mark exclusion_mark;
	enum path_exclusion path_exclusion;
	enum exclusion_state exclusion_state;
	struct prefix_key prefix_key;
	struct sock_record sock;
	enum sock_op sock_op;
	struct fork_record fork;
	struct exit_record exit;
	struct creds_record creds;
	enum record_type type;
	enum drop_reason reason;
	enum record_flag flag;
	enum file_op file_op;
	enum open_mode open_mode;
};
struct btf_anchor *unused_btf_anchor __attribute__((unused));
/* Records with a flexible data[] cannot be members: each gets a variable. */
struct exec_record unused_exec_record __attribute__((unused));
struct file_record unused_file_record __attribute__((unused));

/* Older kernels call kernfs_node's parent "parent" (renamed in 6.15). */
struct kernfs_node___pre615 {
	struct kernfs_node___pre615 *parent;
} __attribute__((preserve_access_index));

/* Counts a record that could not be emitted: type is a record_type, or
 * DROP_FILE_BASE + file_op for file records. */
static __always_inline void count_drop(__u32 type, __u32 reason)
{
	__u32 key = type * DROP_REASON_MAX + reason;
	__u64 *n = bpf_map_lookup_elem(&drops, &key);
	if (n)
		*n += 1;
}

/* Wakeups are batched: the record that takes the pending data across
 * wakeup_bytes wakes the reader; past the threshold the reader is awake and
 * reads until the ring is empty, below it the reader polls on a short
 * deadline. A crossing can be missed when records of two CPUs land at once,
 * so once urgent_bytes are pending every record wakes the reader (it is
 * behind: a wakeup per record is the lesser cost). pending is the data in
 * the ring including this record, whose size with its 8-byte header and
 * padding is what BPF_RB_AVAIL_DATA counts. */
static __always_inline __u64 wakeup_flag(__u64 pending, __u64 size)
{
	__u64 used = (size + 8 + 7) & ~7ULL;
	if (pending >= urgent_bytes || (pending >= wakeup_bytes && pending - used < wakeup_bytes))
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* For bpf_ringbuf_submit: the reservation is already in the ring. */
static __always_inline __u64 submit_flag(__u64 size)
{
	return wakeup_flag(bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA), size);
}

/* For bpf_ringbuf_output: the record is not in the ring yet. */
static __always_inline __u64 output_flag(__u64 size)
{
	return wakeup_flag(bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + ((size + 8 + 7) & ~7ULL), size);
}

/* t is a BTF pointer (a tracepoint argument or bpf_get_current_task_btf):
 * its fields and the structures it points to are read with direct loads,
 * which the verifier makes fault-safe, at a fraction of the cost of a
 * bpf_probe_read_kernel call each. */
static __always_inline void read_creds(struct task_struct *t, struct cred_ids *c)
{
	const struct cred *cr = t->cred;
	c->uid = cr->uid.val;
	c->euid = cr->euid.val;
	c->suid = cr->suid.val;
	c->fsuid = cr->fsuid.val;
	c->gid = cr->gid.val;
	c->egid = cr->egid.val;
	c->sgid = cr->sgid.val;
	c->fsgid = cr->fsgid.val;
}

static __always_inline __u32 fill_task(struct task_struct *t, struct task_ctx *c)
{
	__u32 flags = 0;

	c->ktime = bpf_ktime_get_boot_ns();
	c->pid = t->tgid;
	c->tid = t->pid;
	c->ppid = t->real_parent->tgid;
	c->start_time = t->group_leader->start_boottime;
	c->cgroup_id = t->cgroups->dfl_cgrp->kn->id;
	if (bpf_core_field_exists(t->loginuid)) {
		c->loginuid = t->loginuid.val;
		flags |= FLAG_LOGINUID;
	}
	read_creds(t, &c->creds);
	/* comm is always NUL-terminated within its 16 bytes. */
	__builtin_memcpy(c->comm, t->comm, sizeof(c->comm));
	return flags;
}

/* Whether events about process pid (child of ppid) are wanted. */
static __always_inline bool wanted(__u32 pid, __u32 ppid)
{
	if (self_tgid && (pid == self_tgid || ppid == self_tgid))
		return false;
	if (watch_ppid && ppid != watch_ppid)
		return false;
	return true;
}

static __always_inline void count_excluded(__u32 why)
{
	__u64 *n = bpf_map_lookup_elem(&excluded_counts, &why);
	if (n)
		*n += 1;
}

/* Whether process tgid is excluded as an initiator; counts it when so. */
/* Which exclusions have entries (enum exclusion_state, set by the sensor):
 * the hash lookups are skipped when none do. */
static __always_inline __u32 exclusion_state(void)
{
	__u32 key = 0;
	__u32 *st = bpf_map_lookup_elem(&exclusion_flags, &key);
	return st ? *st : 0;
}

static __always_inline bool initiator_excluded(__u32 tgid)
{
	if (!(exclusion_state() & EXCLUDING_TASKS) || !bpf_map_lookup_elem(&excluded_tasks, &tgid))
		return false;
	count_excluded(EXCLUDED_INITIATOR);
	return true;
}

static __always_inline struct inode_key inode_of(struct dentry *d)
{
	struct inode *inode = KREAD(struct dentry, d, d_inode);
	struct super_block *sb = KREAD(struct dentry, d, d_sb);
	struct inode_key k = {
		.ino = KREAD(struct inode, inode, i_ino),
		.dev = KREAD(struct super_block, sb, s_dev),
	};
	return k;
}

/* ---- path walk ---------------------------------------------------------- */

/* What a walk checks against the path exclusions. */
enum {
	WALK_NO_CHECK = 0,
	WALK_TARGET = 1, /* the walk starts at the file acted on */
	WALK_BASE = 2,   /* the walk starts at the directory a name is relative to */
};

/* The links of a mount a walk follows: its parent and mountpoint, and the
 * root and super block of the embedded vfsmount. */
struct mount_links {
	struct mount *parent;
	struct dentry *mountpoint;
	struct dentry *root;
	struct super_block *sb;
};

struct walk {
	struct dentry *dentry;
	struct mount *mnt;
	struct mount_links ml; /* of mnt, read when the walk enters it */
	__u32 cpu;
	__u32 pos;   /* next write offset in the scratch buffer */
	__u32 limit; /* no new component starts at or beyond this */
	__u32 done;  /* reached the root of the mount tree */
	__u32 disconnected;
	__u32 check;    /* look each dentry up in excluded_inodes: WALK_* */
	__u32 excluded; /* an excluded file or directory was on the way */
	__u32 steps;    /* components walked so far */
	__u32 tree;     /* mnt_id of the mount at the root of the tree */
};

/* The walk loads a dentry's links (direct_loads) and reads its name with
 * bpf_probe_read_kernel_str, the one helper call per component. A mount's
 * links are loaded once, when the walk enters it. Without direct loads,
 * d_parent, d_name and d_inode are read as one block: they are adjacent in
 * every kernel since 3.x (CO-RE offsets decide at load time, and the
 * field-by-field reads remain for a kernel that orders them otherwise), and
 * so are a mount's links since 3.3. */
struct dentry_links {
	struct dentry *parent;
	__u64 hash_len; /* struct qstr: hash, then len (little-endian) */
	const unsigned char *name;
	struct inode *inode;
};

static __always_inline bool dentry_links_adjacent(void)
{
	__u32 base = bpf_core_field_offset(struct dentry, d_parent);
	return bpf_core_field_offset(struct dentry, d_name) == base + 8 &&
	       bpf_core_field_offset(struct dentry, d_inode) == base + 24 &&
	       bpf_core_field_offset(struct qstr, name) == 8;
}

static __always_inline void read_dentry(struct dentry *d, struct dentry_links *l)
{
	if (direct_loads) {
		struct dentry *k = kcast(d, struct dentry);
		l->parent = k->d_parent;
		l->name = k->d_name.name;
		l->inode = k->d_inode;
		return;
	}
	if (dentry_links_adjacent()) {
		if (bpf_probe_read_kernel(l, sizeof(*l), (void *)d + bpf_core_field_offset(struct dentry, d_parent)) < 0)
			__builtin_memset(l, 0, sizeof(*l));
		return;
	}
	l->parent = BPF_CORE_READ(d, d_parent);
	l->name = BPF_CORE_READ(d, d_name.name);
	l->inode = BPF_CORE_READ(d, d_inode);
}

static __always_inline bool mount_links_adjacent(void)
{
	__u32 base = bpf_core_field_offset(struct mount, mnt_parent);
	return bpf_core_field_offset(struct mount, mnt_mountpoint) == base + 8 &&
	       bpf_core_field_offset(struct mount, mnt) == base + 16 &&
	       bpf_core_field_offset(struct vfsmount, mnt_root) == 0 &&
	       bpf_core_field_offset(struct vfsmount, mnt_sb) == 8;
}

static __always_inline void read_mount(struct mount *m, struct mount_links *l)
{
	if (direct_loads) {
		struct mount *k = kcast(m, struct mount);
		l->parent = k->mnt_parent;
		l->mountpoint = k->mnt_mountpoint;
		l->root = k->mnt.mnt_root;
		l->sb = k->mnt.mnt_sb;
		return;
	}
	if (mount_links_adjacent()) {
		if (bpf_probe_read_kernel(l, sizeof(*l), (void *)m + bpf_core_field_offset(struct mount, mnt_parent)) < 0)
			__builtin_memset(l, 0, sizeof(*l));
		return;
	}
	l->parent = BPF_CORE_READ(m, mnt_parent);
	l->mountpoint = BPF_CORE_READ(m, mnt_mountpoint);
	l->root = BPF_CORE_READ(m, mnt.mnt_root);
	l->sb = BPF_CORE_READ(m, mnt.mnt_sb);
}

static __always_inline struct mount *real_mount(struct vfsmount *vfsmnt)
{
	return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* An offset into the scratch buffer the verifier can bound: the mask is
 * applied in the instructions, not optimised away after a range check. */
static __always_inline __u32 scratch_off(__u32 p)
{
	asm volatile("%[p] &= %[m]" : [p] "+r"(p) : [m] "i"(SCRATCH_MASK));
	return p;
}

/* Appends one NUL-terminated name at offset *pos of this CPU's scratch
 * buffer and advances *pos; false when there is no room left before limit
 * or the name cannot be read. */
static __always_inline bool append_name(__u32 cpu, __u32 *pos, __u32 limit, const void *name)
{
	__u32 p = *pos;
	if (p >= limit || p >= SCRATCH_LIMIT)
		return false;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &cpu);
	if (!s)
		return false;
	long n = bpf_probe_read_kernel_str(&s->buf[scratch_off(p)], NAME_CHUNK, name);
	if (n <= 0)
		return false;
	*pos = p + n;
	return true;
}

/* Appends the name of dentry d (name is its d_name.name). A short name is
 * kept inside the dentry (d_shortname, 6.14+): with direct loads it is
 * copied as the five words it is, not by a bpf_probe_read_kernel_str call
 * that copies byte by byte; the bytes after the NUL are overwritten by the
 * next component or not sent.
 * The room check is append_name's, repeated: a helper shared by the two
 * made the verifier explore 15% more instructions with the read calls. */
static __always_inline bool append_dentry_name(__u32 cpu, __u32 *pos, __u32 limit, struct dentry *d,
					       const void *name)
{
	if (direct_loads && bpf_core_field_exists(struct dentry, d_shortname)) {
		struct dentry *k = kcast(d, struct dentry);
		__u32 len = k->d_name.len;
		if (name == (const void *)&k->d_shortname && len < bpf_core_field_size(struct dentry, d_shortname)) {
			__u32 p = *pos;
			if (p >= limit || p >= SCRATCH_LIMIT)
				return false;
			struct scratch *s = bpf_map_lookup_elem(&scratch, &cpu);
			if (!s)
				return false;
			__u32 off = scratch_off(p);
			__u64 *w = (__u64 *)&s->buf[off];
			w[0] = k->d_shortname.words[0];
			w[1] = k->d_shortname.words[1];
			w[2] = k->d_shortname.words[2];
			w[3] = k->d_shortname.words[3];
			w[4] = k->d_shortname.words[4];
			s->buf[off + (len & 63)] = 0;
			*pos = p + len + 1;
			return true;
		}
	}
	return append_name(cpu, pos, limit, name);
}

/* One step of a path walk from the leaf towards the root, as d_path() does
 * it (fs/d_path.c prepend_path): at the root of a mount, continue at its
 * mountpoint in the parent mount; stop at the root of the mount tree. Each
 * component is appended NUL-terminated, leaf first. */
static long walk_step(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	struct dentry *d = w->dentry;
	struct mount *mnt = w->mnt;
	struct dentry_links l;
	read_dentry(d, &l);
	struct dentry *parent = l.parent;

	if (w->check) {
		struct inode_key k = inode_of(d);
		__u32 *how = bpf_map_lookup_elem(&excluded_inodes, &k);
		/* The leaf matches exact and subtree entries, its ancestors
		 * only subtree entries. */
		if (how && ((*how & PATH_SUBTREE) || (w->steps == 0 && w->check == WALK_TARGET))) {
			w->excluded = 1;
			return 1;
		}
	}

	if (d == w->ml.root) {
		struct mount *mp = w->ml.parent;
		if (!mp)
			return 1;
		if (mp == mnt) { /* the root of the mount tree */
			w->done = 1;
			/* Which tree: the host's or another (see
			 * append_checked_path), by one load per walk. */
			if (host_tree_root)
				w->tree = KREAD(struct mount, mnt, mnt_id);
			return 1;
		}
		w->dentry = w->ml.mountpoint;
		w->mnt = mp;
		read_mount(mp, &w->ml);
		return 0;
	}

	if (!append_dentry_name(w->cpu, &w->pos, w->limit, d, l.name))
		return 1;
	w->steps++;
	/* A dentry that is its own parent without being a mount root is not
	 * reachable from any root (memfd, pipes, detached trees): its name is
	 * all there is, as in d_path()'s d_dname case. */
	if (d == parent) {
		w->disconnected = 1;
		w->done = 1;
		return 1;
	}
	w->dentry = parent;
	return 0;
}

/* A file's path within its own file system: from the dentry up to the
 * file system's root (IS_ROOT, d == d_parent), through the roots of the
 * mounts on the way as if they were not there. */
struct fs_walk {
	struct dentry *dentry;
	struct super_block *sb;
	__u32 cpu;
	__u32 pos;
	__u32 limit;
	__u32 dev; /* the file system's s_dev, set when the walk got to its root */
};

static long fs_walk_step(__u32 i, void *ctx)
{
	struct fs_walk *w = ctx;
	struct dentry *d = w->dentry;
	struct dentry_links l;
	read_dentry(d, &l);
	if (!l.parent)
		return 1;
	if (l.parent == d) {
		struct super_block *sb = w->sb;
		w->dev = KREAD(struct super_block, sb, s_dev);
		return 1;
	}
	if (!append_name(w->cpu, &w->pos, w->limit, l.name))
		return 1;
	w->dentry = l.parent;
	return 0;
}

/* What a walk found, beyond its components. Its flags are given by the
 * caller (FLAG_EXE_*, FLAG_CWD_*, FLAG_PATHn_*) and set without branches:
 * each branch here would double the states the verifier checks in all the
 * code after the walk. */
struct walk_flags {
	__u32 truncated;    /* the walk did not reach the root */
	__u32 disconnected; /* it started at an unreachable dentry */
	__u32 foreign;      /* it ended at the root of a tree not the host's */
};

struct walk_out {
	__u32 end;      /* offset after the components of the path as its tree shows it */
	__u32 flags;
	__u32 excluded; /* it met an excluded file or directory (check: WALK_*) */
	struct walk_origin origin; /* when foreign, else zero */
};

/* Appends the components of a path at offset pos, as its mount tree shows
 * it; returns the offset after them. When the tree is not the host's (a
 * container's), the path of the file within its own file system follows,
 * for user space to find where the host sees that file system: the only
 * extra work on the host is reading the tree's mount id. */
static __always_inline __u32 append_checked_path(__u32 cpu, struct dentry *dentry, struct vfsmount *vfsmnt,
						 __u32 pos, __u32 check, struct walk_flags f, struct walk_out *out)
{
	struct walk w = {
		.dentry = dentry,
		.mnt = real_mount(vfsmnt),
		.cpu = cpu,
		.pos = pos,
		.limit = pos + PATH_BYTES_MAX,
		.check = check,
	};
	struct super_block *sb = NULL;
	if (dentry && vfsmnt) {
		if (check && !(exclusion_state() & EXCLUDING_INODES))
			w.check = WALK_NO_CHECK;
		struct mount *m0 = w.mnt;
		read_mount(m0, &w.ml);
		sb = w.ml.sb;
		bpf_loop(PATH_DEPTH_MAX, walk_step, &w, 0);
	}
	/* done, disconnected and excluded are 0 or 1; foreign is computed
	 * without a compare (x | -x has its sign bit set when x != 0). */
	__u32 foreign = 0;
	if (host_tree_root) {
		__u32 x = w.tree ^ host_tree_root;
		foreign = ((x | -x) >> 31) & w.done & (w.disconnected ^ 1);
	}
	out->end = w.pos;
	out->flags = f.truncated * (w.done ^ 1) | f.disconnected * w.disconnected | f.foreign * foreign;
	out->excluded = w.excluded;
	struct fs_walk fw = {
		.dentry = dentry,
		.sb = sb,
		.cpu = cpu,
		.pos = w.pos,
		.limit = w.pos + PATH_BYTES_MAX,
	};
	bpf_loop(PATH_DEPTH_MAX * foreign, fs_walk_step, &fw, 0);
	out->origin.dev = fw.dev;
	out->origin.len = fw.pos - w.pos;
	out->origin._pad = 0;
	return fw.pos;
}

#define EXE_WALK ((struct walk_flags){FLAG_EXE_TRUNCATED, FLAG_EXE_DISCONNECTED, FLAG_EXE_FOREIGN})
#define CWD_WALK ((struct walk_flags){FLAG_CWD_TRUNCATED, FLAG_CWD_DISCONNECTED, FLAG_CWD_FOREIGN})
/* Path n of a file record (0: path 1, 1: path 2): the FLAG_PATH2_* bits
 * are the FLAG_PATH1_* bits shifted by one. */
#define FILE_WALK(n) ((struct walk_flags){FLAG_PATH1_TRUNCATED << (n), FLAG_PATH1_DISCONNECTED << (n), \
					  FLAG_PATH1_FOREIGN << (n)})

struct cgroup_walk {
	struct kernfs_node *kn;
	__u32 cpu;
	__u32 pos;
	__u32 limit;
	__u32 done;
};

static long cgroup_step(__u32 i, void *ctx)
{
	struct cgroup_walk *w = ctx;
	struct kernfs_node *kn = w->kn;
	struct kernfs_node *parent;

	if (!kn) {
		w->done = 1;
		return 1;
	}
	if (bpf_core_field_exists(kn->__parent))
		parent = BPF_CORE_READ(kn, __parent);
	else
		parent = (struct kernfs_node *)BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
	if (!parent) { /* the hierarchy's root has no name of its own */
		w->done = 1;
		return 1;
	}
	if (!append_name(w->cpu, &w->pos, w->limit, BPF_CORE_READ(kn, name)))
		return 1;
	w->kn = parent;
	return 0;
}

static __always_inline __u32 pid_nr(struct pid *p)
{
	if (!p)
		return 0;
	return BPF_CORE_READ(p, numbers[0].nr);
}

/* ---- exec --------------------------------------------------------------- */

/* Updates the exclusion mark of process pid that has just executed the
 * file at exe; returns whether the process is excluded now. A mark with
 * MARK_DESCENDANTS survives exec (the tree stays excluded); otherwise the
 * new executable decides. */
static __always_inline bool mark_exec(__u32 pid, struct dentry *exe)
{
	__u32 *mark = bpf_map_lookup_elem(&excluded_tasks, &pid);
	if (mark && (*mark & MARK_DESCENDANTS))
		return true;
	struct inode_key k = inode_of(exe);
	__u32 *how = bpf_map_lookup_elem(&excluded_exes, &k);
	if (how) {
		__u32 m = MARK_EXCLUDED | (*how & MARK_DESCENDANTS);
		bpf_map_update_elem(&excluded_tasks, &pid, &m, BPF_ANY);
		return true;
	}
	if (mark)
		bpf_map_delete_elem(&excluded_tasks, &pid);
	return false;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	/* An exec may change the credentials (a set-user-ID program): they
	 * are the ones the next set*id call of this thread starts from. */
	struct task_creds *seen = bpf_task_storage_get(&task_creds, task, 0, 0);
	if (seen)
		read_creds(task, &seen->ids);

	__u32 pid = task->tgid;
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (!wanted(pid, ppid))
		return 0;
	if (mark_exec(pid, BPF_CORE_READ(bprm, file, f_path.dentry))) {
		count_excluded(EXCLUDED_INITIATOR);
		return 0;
	}

	__u32 cpu = bpf_get_smp_processor_id();
	struct exec_record *rec = bpf_map_lookup_elem(&scratch, &cpu);
	if (!rec) {
		count_drop(RECORD_EXEC, DROP_NO_SCRATCH);
		return 0;
	}

	rec->hdr.type = RECORD_EXEC;
	__u32 flags = fill_task(task, &rec->hdr.task);
	rec->parent_start_time = BPF_CORE_READ(task, real_parent, group_leader, start_boottime);
	rec->argc = BPF_CORE_READ(bprm, argc);

	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	rec->sid = pid_nr(BPF_CORE_READ(sig, pids[PIDTYPE_SID]));
	rec->pgid = pid_nr(BPF_CORE_READ(sig, pids[PIDTYPE_PGID]));
	struct tty_struct *tty = BPF_CORE_READ(sig, tty);
	rec->tty[0] = 0;
	if (tty) {
		flags |= FLAG_TTY;
		bpf_probe_read_kernel_str(rec->tty, sizeof(rec->tty), &tty->name);
	}

	/* argv: the new image's argument area, exactly as the process sees it. */
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
	__u32 args_len = 0;
	if (arg_end > arg_start) {
		unsigned long want = arg_end - arg_start;
		if (want > ARGS_MAX) {
			want = ARGS_MAX;
			flags |= FLAG_ARGS_TRUNCATED;
		}
		args_len = want;
		if (args_len > ARGS_MAX) /* for the verifier */
			args_len = ARGS_MAX;
		if (bpf_probe_read_user(rec->data, args_len, (void *)arg_start) < 0) {
			args_len = 0;
			flags |= FLAG_ARGS_FAULT;
		}
	}
	rec->args_len = args_len;

	struct walk_out wo;
	struct file *file = BPF_CORE_READ(bprm, file);
	struct dentry *exe_dentry = BPF_CORE_READ(file, f_path.dentry);
	__u32 exe_start = offsetof(struct exec_record, data) + args_len;
	__u32 pos = append_checked_path(cpu, exe_dentry, BPF_CORE_READ(file, f_path.mnt), exe_start, WALK_NO_CHECK,
					EXE_WALK, &wo);
	flags |= wo.flags;
	rec->exe_origin = wo.origin;
	rec->exe_len = wo.end - exe_start;
	rec->_pad = 0;
	/* d_unlinked(): unhashed and not a root. */
	if (exe_dentry && !BPF_CORE_READ(exe_dentry, d_hash.pprev) &&
	    BPF_CORE_READ(exe_dentry, d_parent) != exe_dentry)
		flags |= FLAG_EXE_DELETED;

	__u32 cwd_start = pos;
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	pos = append_checked_path(cpu, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), pos, WALK_NO_CHECK,
				  CWD_WALK, &wo);
	flags |= wo.flags;
	rec->cwd_origin = wo.origin;
	rec->cwd_len = wo.end - cwd_start;

	struct cgroup_walk cw = {
		.kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn),
		.cpu = cpu,
		.pos = pos,
		.limit = pos + PATH_BYTES_MAX,
	};
	bpf_loop(CGROUP_DEPTH_MAX, cgroup_step, &cw, 0);
	if (!cw.done)
		flags |= FLAG_CGROUP_TRUNCATED;
	rec->cgroup_len = cw.pos - pos;
	pos = cw.pos;

	rec->hdr.flags = flags;
	__u64 size = pos;
	if (size > SCRATCH_SIZE)
		size = SCRATCH_SIZE;
	if (bpf_ringbuf_output(&events, rec, size, output_flag(size)) < 0)
		count_drop(RECORD_EXEC, DROP_RINGBUF_FULL);
	return 0;
}

/* ---- fork --------------------------------------------------------------- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	/* A new thread shares its creator's thread group: not a process. */
	if (child->pid != child->tgid)
		return 0;
	__u32 pid = child->tgid;
	__u32 ppid = BPF_CORE_READ(child, real_parent, tgid);
	if (!wanted(pid, ppid) || (self_tgid && parent->tgid == self_tgid))
		return 0;
	__u32 creator = parent->tgid;
	__u32 *mark = bpf_map_lookup_elem(&excluded_tasks, &creator);
	if (mark) {
		/* Until it execs, the child runs the same excluded program;
		 * at its exec, mark_exec decides again. */
		__u32 m = *mark;
		bpf_map_update_elem(&excluded_tasks, &pid, &m, BPF_ANY);
		count_excluded(EXCLUDED_INITIATOR);
		return 0;
	}

	struct fork_record *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_drop(RECORD_FORK, DROP_RINGBUF_FULL);
		return 0;
	}
	rec->hdr.type = RECORD_FORK;
	rec->hdr.flags = fill_task(child, &rec->hdr.task);
	bpf_ringbuf_submit(rec, submit_flag(sizeof(*rec)));
	return 0;
}

/* ---- exit --------------------------------------------------------------- */

/* 6.16 added group_dead to the tracepoint: the result of the decrement of
 * signal->live, exactly once true per process. The loader sets
 * exit_group_dead_arg when the kernel's tracepoint has it (read from the
 * kernel's BTF; a CO-RE type match on the tracepoint's prototype did not
 * resolve here, so it read signal->live on 6.18 too). Older kernels only
 * pass the task; there signal->live is read, which two threads exiting at
 * the same moment can both see at zero: user space drops the second exit
 * of a process. */
const volatile bool exit_group_dead_arg = false;

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	bool group_dead;
	if (exit_group_dead_arg)
		group_dead = (bool)ctx[1];
	else
		group_dead = BPF_CORE_READ(task, signal, live.counter) == 0;
	if (!group_dead)
		return 0;
	__u32 pid = task->tgid;
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (!wanted(pid, ppid))
		return 0;
	if (bpf_map_lookup_elem(&excluded_tasks, &pid)) {
		bpf_map_delete_elem(&excluded_tasks, &pid);
		count_excluded(EXCLUDED_INITIATOR);
		return 0;
	}

	struct exit_record *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_drop(RECORD_EXIT, DROP_RINGBUF_FULL);
		return 0;
	}
	rec->hdr.type = RECORD_EXIT;
	rec->hdr.flags = fill_task(task, &rec->hdr.task);
	/* exit_group() and fatal signals give every thread the group's code. */
	rec->exit_code = BPF_CORE_READ(task, exit_code);
	rec->_pad = 0;
	bpf_ringbuf_submit(rec, submit_flag(sizeof(*rec)));
	return 0;
}

/* ---- credentials -------------------------------------------------------- */

/* x86_64 syscall numbers of the set*id family. */
enum {
	NR_setuid = 105, NR_setgid = 106, NR_setreuid = 113, NR_setregid = 114,
	NR_setresuid = 117, NR_setresgid = 119, NR_setfsuid = 122, NR_setfsgid = 123,
};

/* ---- files -------------------------------------------------------------- */

/* x86_64 syscall numbers of the file operations reported. */
enum {
	NR_open = 2, NR_truncate = 76, NR_ftruncate = 77, NR_rename = 82, NR_mkdir = 83, NR_rmdir = 84,
	NR_creat = 85, NR_link = 86, NR_unlink = 87, NR_symlink = 88, NR_chmod = 90, NR_fchmod = 91,
	NR_chown = 92, NR_fchown = 93, NR_lchown = 94, NR_openat = 257, NR_mkdirat = 258,
	NR_fchownat = 260, NR_unlinkat = 263, NR_renameat = 264, NR_linkat = 265, NR_symlinkat = 266,
	NR_fchmodat = 268, NR_renameat2 = 316, NR_openat2 = 437, NR_fchmodat2 = 452,
};

#define AT_FDCWD_ -100
#define O_ACCMODE_ 3
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
/* include/linux/fs.h: set by the open that created the file. */
#define FMODE_CREATED_ (1u << 20)

static __always_inline __u32 file_op(long id)
{
	switch (id) {
	case NR_open: case NR_openat: case NR_openat2: case NR_creat:
		return FILE_OP_OPEN;
	case NR_rename: case NR_renameat: case NR_renameat2:
		return FILE_OP_RENAME;
	case NR_unlink: case NR_unlinkat: case NR_rmdir:
		return FILE_OP_DELETE;
	case NR_link: case NR_linkat:
		return FILE_OP_LINK;
	case NR_symlink: case NR_symlinkat:
		return FILE_OP_SYMLINK;
	case NR_mkdir: case NR_mkdirat:
		return FILE_OP_MKDIR;
	case NR_chmod: case NR_fchmod: case NR_fchmodat: case NR_fchmodat2:
		return FILE_OP_CHMOD;
	case NR_chown: case NR_fchown: case NR_lchown: case NR_fchownat:
		return FILE_OP_CHOWN;
	case NR_truncate: case NR_ftruncate:
		return FILE_OP_TRUNCATE;
	}
	return 0;
}

/* The O_* flags of an open, read at entry (openat2 passes them in user
 * memory, which could change before exit). */
static __always_inline __u32 open_flags(long id, const __u64 *a)
{
	switch (id) {
	case NR_open:
		return a[1];
	case NR_openat:
		return a[2];
	case NR_creat:
		return O_CREAT_ | O_TRUNC_ | 1 /* O_WRONLY */;
	case NR_openat2: {
		__u64 flags = 0;
		bpf_probe_read_user(&flags, sizeof(flags), (void *)a[2]);
		return flags;
	}
	}
	return 0;
}

static __always_inline bool writes(__u32 flags)
{
	return (flags & O_ACCMODE_) != 0 || (flags & (O_CREAT_ | O_TRUNC_));
}

static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = task->files->fdt;
	if ((__u64)fd >= fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* The dentry and mount of an open file. */
static __always_inline struct path file_path(struct file *f)
{
	struct path p = {};
	if (direct_loads) {
		struct file *k = kcast(f, struct file);
		p.dentry = k->f_path.dentry, p.mnt = k->f_path.mnt;
	} else if (f) {
		bpf_core_read(&p, sizeof(p), &f->f_path);
	}
	return p;
}

/* Appends the user string at offset *pos (without its NUL) and returns
 * its length; *cut when it is longer than PATH_MAX allows. */
static __always_inline __u32 append_user_str(__u32 cpu, __u32 *pos, const char *ustr, bool *cut)
{
	__u32 p = *pos;
	if (!ustr || p >= SCRATCH_LIMIT)
		return 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &cpu);
	if (!s)
		return 0;
	long n = bpf_probe_read_user_str(&s->buf[scratch_off(p)], USER_PATH_MAX, ustr);
	if (n <= 0)
		return 0;
	if (n == USER_PATH_MAX) {
		char next = 0;
		bpf_probe_read_user(&next, 1, ustr + USER_PATH_MAX - 1);
		*cut = next != 0;
	}
	*pos = p + n - 1;
	return n - 1;
}

static __always_inline bool starts_with_slash(__u32 cpu, __u32 off)
{
	struct scratch *s = bpf_map_lookup_elem(&scratch, &cpu);
	return s && s->buf[scratch_off(off)] == '/';
}

/* Whether the absolute path string at offset off (NUL-terminated) is, or is
 * below, an excluded path, compared as a string. */
static __always_inline bool prefix_excluded(__u32 cpu, __u32 off)
{
	struct scratch *s = bpf_map_lookup_elem(&scratch, &cpu);
	if (!s)
		return false;
	s->key.prefixlen = PREFIX_MAX * 8;
	if (bpf_probe_read_kernel(s->key.data, PREFIX_MAX, &s->buf[scratch_off(off)]) < 0)
		return false;
	return bpf_map_lookup_elem(&excluded_prefixes, &s->key) != NULL;
}

/* The process's root (root) or working directory. Through kcast, not
 * task->fs's own type: the walk then gets pointers of one kind only, as
 * it loads them; a mix would double the states the verifier checks in it. */
static __always_inline struct path fs_path(struct task_struct *task, bool root)
{
	struct path p = {};
	if (direct_loads) {
		struct fs_struct *fs = kcast(task->fs, struct fs_struct);
		p.dentry = root ? fs->root.dentry : fs->pwd.dentry;
		p.mnt = root ? fs->root.mnt : fs->pwd.mnt;
	} else if (root) {
		bpf_core_read(&p, sizeof(p), &task->fs->root);
	} else {
		bpf_core_read(&p, sizeof(p), &task->fs->pwd);
	}
	return p;
}

/* Whether the process is in a mount namespace other than the host's (the
 * root of its namespace's tree is not the host's): its absolute paths are
 * then relative to a root the host may not share. Direct loads through the
 * task's BTF pointer, no read call. */
static __always_inline bool foreign_mnt_ns(struct task_struct *task)
{
	return host_tree_root && task->nsproxy->mnt_ns->root->mnt_id != host_tree_root;
}

/* Whether the process's root is not the host's "/" (chroot): its absolute
 * strings are not host paths. A few loads, for an absolute string; true
 * when the host's "/" is unknown (the root is then walked). */
static __always_inline bool chrooted(struct task_struct *task)
{
	struct path root = fs_path(task, true);
	struct vfsmount *vm = root.mnt;
	return !host_root_mnt || KREAD(struct mount, real_mount(vm), mnt_id) != host_root_mnt ||
	       root.dentry != KREAD(struct vfsmount, vm, mnt_root);
}

/* Appends path n (0: path 1, 1: path 2): the string and the walk of the
 * directory it is relative to (dirfd, or the cwd for AT_FDCWD). An
 * absolute string is relative to the process's root, walked only when the
 * process is chrooted or not in the host's mount namespace (elsewhere the
 * root is the host's "/", and the walk would cost reads for nothing). */
static __always_inline __u32 append_relative(__u32 cpu, struct task_struct *task, long dirfd, const char *ustr,
					     __u32 pos, __u32 n, __u16 *str_len, __u16 *walk_len, __u32 *flags,
					     struct walk_origin *origin, bool *excluded)
{
	bool cut = false;
	__u32 start = pos;
	*str_len = append_user_str(cpu, &pos, ustr, &cut);
	if (cut)
		*flags |= FLAG_STR1_TRUNCATED << n;
	__u32 walk_start = pos;
	*walk_len = 0;
	bool absolute = *str_len != 0 && starts_with_slash(cpu, start);
	if (absolute && !foreign_mnt_ns(task) && !chrooted(task)) {
		/* The string names a host path: match it against the
		 * excluded paths as a string. */
		if (exclusion_state() & EXCLUDING_PREFIXES)
			*excluded |= prefix_excluded(cpu, start);
		return pos;
	}
	struct path base;
	if (absolute) {
		base = fs_path(task, true);
		*flags |= FLAG_PATH1_ROOT << n;
	} else if (dirfd == AT_FDCWD_) {
		base = fs_path(task, false);
		*flags |= FLAG_PATH1_CWD << n;
	} else {
		base = file_path(fd_file(task, dirfd));
	}
	struct walk_out wo;
	pos = append_checked_path(cpu, base.dentry, base.mnt, pos, WALK_BASE, FILE_WALK(n), &wo);
	*excluded |= wo.excluded;
	*flags |= wo.flags;
	*origin = wo.origin;
	*walk_len = wo.end - walk_start;
	return pos;
}

/* Appends the path of an open file (exact: the kernel's own dentry). */
static __always_inline __u32 append_fd_path(__u32 cpu, struct task_struct *task, long fd, __u32 pos,
					    __u16 *walk_len, __u32 *flags, struct walk_origin *origin,
					    struct file **out, bool *excluded)
{
	struct file *f = fd_file(task, fd);
	struct path fp = file_path(f);
	struct walk_out wo;
	__u32 start = pos;
	pos = append_checked_path(cpu, fp.dentry, fp.mnt, pos, WALK_TARGET, FILE_WALK(0), &wo);
	*excluded |= wo.excluded;
	*flags |= FLAG_PATH1_EXACT | wo.flags;
	*origin = wo.origin;
	*walk_len = wo.end - start;
	if (out)
		*out = f;
	return pos;
}

static __always_inline void emit_file(struct task_struct *task, const struct call_args *c, long ret)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct file_record *rec = bpf_map_lookup_elem(&scratch, &cpu);
	if (!rec) {
		count_drop(DROP_FILE_BASE + file_op(c->id), DROP_NO_SCRATCH);
		return;
	}
	const __u64 *a = c->args;
	__u32 id = c->id;
	__u32 flags = fill_task(task, &rec->hdr.task);
	rec->hdr.type = RECORD_FILE;
	rec->ret = ret;
	rec->syscall_id = id;
	rec->op = file_op(id);
	rec->open_flags = 0;
	rec->at_flags = 0;
	rec->mode = 0;
	rec->uid = (__u32)-1;
	rec->gid = (__u32)-1;
	rec->str1_len = rec->walk1_len = rec->str2_len = rec->walk2_len = 0;
	/* For user space to find a live process of the same mount
	 * namespace (a container's) to check a name the process passed
	 * against (checkName in checkname.go): three loads, no branch. */
	rec->mnt_ns = task->nsproxy->mnt_ns->ns.inum;
	rec->origin1.dev = rec->origin2.dev = 0;
	rec->origin1.len = rec->origin2.len = 0;
	rec->origin1._pad = rec->origin2._pad = 0;

	/* Where each path comes from: an fd, or a dirfd and a string. */
	long fd1 = -1, dir1 = AT_FDCWD_, dir2 = AT_FDCWD_;
	const char *str1 = NULL, *str2 = NULL;
	bool raw1 = false; /* string 1 is not a path to resolve (symlink target) */
	switch (id) {
	case NR_open:
		str1 = (void *)a[0], rec->mode = a[2];
		break;
	case NR_creat:
		str1 = (void *)a[0], rec->mode = a[1];
		break;
	case NR_openat:
		dir1 = (int)a[0], str1 = (void *)a[1], rec->mode = a[3];
		break;
	case NR_openat2: {
		__u64 mode = 0;
		bpf_probe_read_user(&mode, sizeof(mode), (void *)(a[2] + 8));
		dir1 = (int)a[0], str1 = (void *)a[1], rec->mode = mode;
		break;
	}
	case NR_rename:
	case NR_link:
		str1 = (void *)a[0], str2 = (void *)a[1];
		break;
	case NR_renameat:
	case NR_renameat2:
	case NR_linkat:
		dir1 = (int)a[0], str1 = (void *)a[1], dir2 = (int)a[2], str2 = (void *)a[3], rec->at_flags = a[4];
		if (id == NR_renameat)
			rec->at_flags = 0;
		break;
	case NR_unlink:
	case NR_rmdir:
	case NR_truncate:
		str1 = (void *)a[0];
		break;
	case NR_unlinkat:
		dir1 = (int)a[0], str1 = (void *)a[1], rec->at_flags = a[2];
		break;
	case NR_symlink:
		str1 = (void *)a[0], str2 = (void *)a[1], raw1 = true;
		break;
	case NR_symlinkat:
		str1 = (void *)a[0], dir2 = (int)a[1], str2 = (void *)a[2], raw1 = true;
		break;
	case NR_mkdir:
	case NR_chmod:
		str1 = (void *)a[0], rec->mode = a[1];
		break;
	case NR_mkdirat:
	case NR_fchmodat:
		dir1 = (int)a[0], str1 = (void *)a[1], rec->mode = a[2];
		break;
	case NR_fchmodat2:
		dir1 = (int)a[0], str1 = (void *)a[1], rec->mode = a[2], rec->at_flags = a[3];
		break;
	case NR_fchmod:
		fd1 = (int)a[0], rec->mode = a[1];
		break;
	case NR_chown:
	case NR_lchown:
		str1 = (void *)a[0], rec->uid = a[1], rec->gid = a[2];
		break;
	case NR_fchown:
		fd1 = (int)a[0], rec->uid = a[1], rec->gid = a[2];
		break;
	case NR_fchownat:
		dir1 = (int)a[0], str1 = (void *)a[1], rec->uid = a[2], rec->gid = a[3], rec->at_flags = a[4];
		break;
	case NR_ftruncate:
		fd1 = (int)a[0];
		break;
	}
	if (rec->op == FILE_OP_OPEN) {
		rec->open_flags = open_flags(id, a);
		if (ret >= 0)
			fd1 = ret; /* the file the kernel opened: exact */
	}

	__u32 pos = offsetof(struct file_record, data);
	bool excluded = false;
	if (fd1 >= 0) {
		struct file *f = NULL;
		pos = append_fd_path(cpu, task, fd1, pos, &rec->walk1_len, &flags, &rec->origin1, &f, &excluded);
		if (rec->op == FILE_OP_OPEN && (KREAD(struct file, f, f_mode) & FMODE_CREATED_))
			flags |= FLAG_CREATED;
	} else if (raw1) {
		bool cut = false;
		rec->str1_len = append_user_str(cpu, &pos, str1, &cut);
		if (cut)
			flags |= FLAG_STR1_TRUNCATED;
	} else {
		pos = append_relative(cpu, task, dir1, str1, pos, 0, &rec->str1_len, &rec->walk1_len, &flags,
				      &rec->origin1, &excluded);
	}
	if (str2)
		pos = append_relative(cpu, task, dir2, str2, pos, 1, &rec->str2_len, &rec->walk2_len, &flags,
				      &rec->origin2, &excluded);
	if (excluded) {
		count_excluded(EXCLUDED_PATH);
		return;
	}

	rec->hdr.flags = flags;
	__u64 size = pos;
	if (size > SCRATCH_SIZE)
		size = SCRATCH_SIZE;
	if (bpf_ringbuf_output(&events, rec, size, output_flag(size)) < 0)
		count_drop(DROP_FILE_BASE + rec->op, DROP_RINGBUF_FULL);
}

/* ---- sockets ------------------------------------------------------------ */

enum { NR_connect = 42, NR_accept = 43, NR_bind = 49, NR_listen = 50, NR_accept4 = 288 };
enum { AF_UNIX_ = 1, AF_INET_ = 2, AF_INET6_ = 10 };
#define EINPROGRESS_ 115

static __always_inline __u32 sock_op(long id)
{
	switch (id) {
	case NR_connect:
		return SOCK_OP_CONNECT;
	case NR_accept:
	case NR_accept4:
		return SOCK_OP_ACCEPT;
	case NR_bind:
		return SOCK_OP_BIND;
	case NR_listen:
		return SOCK_OP_LISTEN;
	}
	return 0;
}

/* The socket behind fd, or NULL when fd is not a socket. */
static __always_inline struct socket *fd_socket(struct task_struct *task, long fd)
{
	struct file *f = fd_file(task, fd);
	if (!f)
		return NULL;
	struct socket *sock = KREAD(struct file, f, private_data);
	if (!sock || (void *)KREAD(struct socket, sock, file) != (void *)f)
		return NULL;
	return sock;
}

/* Copies a unix socket's bound name (sun_path, len bytes) to dst. */
static __always_inline __u16 unix_name(struct sock *sk, char *dst)
{
	struct unix_address *ua = KREAD(struct unix_sock, sk, addr);
	if (!ua)
		return 0;
	int len = KREAD(struct unix_address, ua, len) - (int)sizeof(__u16); /* minus sun_family */
	if (len <= 0)
		return 0;
	if (len > UNIX_PATH_LEN)
		len = UNIX_PATH_LEN;
	bpf_probe_read_kernel(dst, len & 0x7f, &ua->name[0].sun_path);
	return len & 0x7f;
}

/* Fills the record's remote address from the sockaddr the caller passed. */
static __always_inline void addr_from_call(struct sock_record *rec, const void *uaddr, __u32 ulen)
{
	__u16 family = 0;
	bpf_probe_read_user(&family, sizeof(family), uaddr);
	if (family == AF_INET_ && ulen >= 8) {
		__u16 port = 0;
		bpf_probe_read_user(&port, 2, uaddr + 2);
		rec->remote_port = bpf_ntohs(port);
		bpf_probe_read_user(rec->remote_addr, 4, uaddr + 4);
	} else if (family == AF_INET6_ && ulen >= 24) {
		__u16 port = 0;
		bpf_probe_read_user(&port, 2, uaddr + 2);
		rec->remote_port = bpf_ntohs(port);
		bpf_probe_read_user(rec->remote_addr, 16, uaddr + 8);
	} else if (family == AF_UNIX_ && ulen > 2) {
		__u32 len = ulen - 2;
		if (len > UNIX_PATH_LEN)
			len = UNIX_PATH_LEN;
		bpf_probe_read_user(rec->remote_unix, len & 0x7f, uaddr + 2);
		rec->remote_unix_len = len & 0x7f;
	}
}

static __always_inline void emit_sock(struct task_struct *task, const struct call_args *c, long ret)
{
	__u32 op = sock_op(c->id);
	/* A connect is an attempt: it is reported whatever its outcome. The
	 * others only when they succeeded (a non-blocking accept fails with
	 * EAGAIN all day long). */
	if (ret < 0 && op != SOCK_OP_CONNECT)
		return;
	long fd = op == SOCK_OP_ACCEPT ? ret : (long)c->args[0];
	struct socket *sock = fd_socket(task, fd);
	if (!sock)
		return;
	struct sock *sk = KREAD(struct socket, sock, sk);
	if (!sk)
		return;

	struct sock_record *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_drop(DROP_SOCK_BASE + op, DROP_RINGBUF_FULL);
		return;
	}
	__u32 flags = fill_task(task, &rec->hdr.task);
	rec->hdr.type = RECORD_SOCK;
	rec->ret = ret;
	rec->syscall_id = c->id;
	rec->op = op;
	rec->family = KREAD(struct sock, sk, __sk_common.skc_family);
	if (direct_loads) {
		struct sock *k = kcast(sk, struct sock);
		rec->type = BPF_CORE_READ_BITFIELD(k, sk_type);
		rec->protocol = BPF_CORE_READ_BITFIELD(k, sk_protocol);
	} else {
		rec->type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
		rec->protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	}
	rec->local_port = rec->remote_port = 0;
	rec->local_unix_len = rec->remote_unix_len = 0;
	rec->_pad = 0;
	__builtin_memset(rec->local_addr, 0, sizeof(rec->local_addr));
	__builtin_memset(rec->remote_addr, 0, sizeof(rec->remote_addr));

	switch (rec->family) {
	case AF_INET_:
		if (direct_loads) {
			struct sock *k = kcast(sk, struct sock);
			*(__u32 *)rec->local_addr = k->__sk_common.skc_rcv_saddr;
			*(__u32 *)rec->remote_addr = k->__sk_common.skc_daddr;
		} else {
			bpf_core_read(rec->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
			bpf_core_read(rec->remote_addr, 4, &sk->__sk_common.skc_daddr);
		}
		rec->local_port = KREAD(struct sock, sk, __sk_common.skc_num);
		rec->remote_port = bpf_ntohs(KREAD(struct sock, sk, __sk_common.skc_dport));
		break;
	case AF_INET6_:
		if (direct_loads) {
			struct sock *k = kcast(sk, struct sock);
			const __u32 *l = k->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32;
			const __u32 *r = k->__sk_common.skc_v6_daddr.in6_u.u6_addr32;
			__u32 *dl = (__u32 *)rec->local_addr, *dr = (__u32 *)rec->remote_addr;
			dl[0] = l[0], dl[1] = l[1], dl[2] = l[2], dl[3] = l[3];
			dr[0] = r[0], dr[1] = r[1], dr[2] = r[2], dr[3] = r[3];
		} else {
			bpf_core_read(rec->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
			bpf_core_read(rec->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
		}
		rec->local_port = KREAD(struct sock, sk, __sk_common.skc_num);
		rec->remote_port = bpf_ntohs(KREAD(struct sock, sk, __sk_common.skc_dport));
		break;
	case AF_UNIX_: {
		rec->local_unix_len = unix_name(sk, rec->local_unix);
		struct sock *peer = KREAD(struct unix_sock, sk, peer);
		if (peer)
			rec->remote_unix_len = unix_name(peer, rec->remote_unix);
		break;
	}
	}
	/* A connect that failed may have left the socket without a peer: the
	 * address asked for is what the caller passed. */
	if (op == SOCK_OP_CONNECT && ret < 0 && ret != -EINPROGRESS_) {
		__builtin_memset(rec->remote_addr, 0, sizeof(rec->remote_addr));
		rec->remote_port = 0;
		rec->remote_unix_len = 0;
		addr_from_call(rec, (const void *)c->args[1], c->args[2]);
		flags |= FLAG_REMOTE_FROM_CALL;
	}
	rec->hdr.flags = flags;
	bpf_ringbuf_submit(rec, submit_flag(sizeof(*rec)));
}

/* ---- syscall entry and exit ---------------------------------------------- */

/* What each hooked syscall is, by x86_64 number. A table rather than the
 * switches of file_op() and sock_op(): one load decides, and the verifier
 * does not learn the exact syscall number on each branch, which would make
 * it check the whole file path once per syscall. */
enum { CLASS_NONE = 0, CLASS_SETID = 1, CLASS_FILE = 2, CLASS_SOCK = 3 };
#define SYSCALL_TABLE 512

static const __u8 syscall_class[SYSCALL_TABLE] = {
	[NR_setuid] = CLASS_SETID, [NR_setgid] = CLASS_SETID, [NR_setreuid] = CLASS_SETID,
	[NR_setregid] = CLASS_SETID, [NR_setresuid] = CLASS_SETID, [NR_setresgid] = CLASS_SETID,
	[NR_setfsuid] = CLASS_SETID, [NR_setfsgid] = CLASS_SETID,
	[NR_open] = CLASS_FILE, [NR_truncate] = CLASS_FILE, [NR_ftruncate] = CLASS_FILE,
	[NR_rename] = CLASS_FILE, [NR_mkdir] = CLASS_FILE, [NR_rmdir] = CLASS_FILE,
	[NR_creat] = CLASS_FILE, [NR_link] = CLASS_FILE, [NR_unlink] = CLASS_FILE,
	[NR_symlink] = CLASS_FILE, [NR_chmod] = CLASS_FILE, [NR_fchmod] = CLASS_FILE,
	[NR_chown] = CLASS_FILE, [NR_fchown] = CLASS_FILE, [NR_lchown] = CLASS_FILE,
	[NR_openat] = CLASS_FILE, [NR_mkdirat] = CLASS_FILE, [NR_fchownat] = CLASS_FILE,
	[NR_unlinkat] = CLASS_FILE, [NR_renameat] = CLASS_FILE, [NR_linkat] = CLASS_FILE,
	[NR_symlinkat] = CLASS_FILE, [NR_fchmodat] = CLASS_FILE, [NR_renameat2] = CLASS_FILE,
	[NR_openat2] = CLASS_FILE, [NR_fchmodat2] = CLASS_FILE,
	[NR_connect] = CLASS_SOCK, [NR_accept] = CLASS_SOCK, [NR_bind] = CLASS_SOCK,
	[NR_listen] = CLASS_SOCK, [NR_accept4] = CLASS_SOCK,
};

static __always_inline __u32 syscall_class_of(long id)
{
	if ((__u64)id >= SYSCALL_TABLE)
		return CLASS_NONE;
	return syscall_class[id];
}

static __always_inline bool syscall_excluded(long id)
{
	__u32 key = id;
	__u8 *ex = bpf_map_lookup_elem(&excluded_syscalls, &key);
	if (!ex || !*ex)
		return false;
	count_excluded(EXCLUDED_SYSCALL);
	return true;
}

static __always_inline void count_syscall(long id)
{
	__u32 key = id;
	__u64 *n = bpf_map_lookup_elem(&syscall_counts, &key);
	if (n)
		*n += 1;
}

static __always_inline void creds_exit(struct task_struct *task, long id)
{
	struct cred_ids now;
	read_creds(task, &now);
	struct task_creds *seen = bpf_task_storage_get(&task_creds, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!seen) {
		count_drop(RECORD_CREDS, DROP_NO_STORAGE);
		return;
	}
	bool known = seen->known;
	if (known && __builtin_memcmp(&seen->ids, &now, sizeof(now)) == 0)
		return;
	struct cred_ids prev = seen->ids;
	seen->ids = now;
	seen->known = 1;
	if (syscall_excluded(id) || !wanted(task->tgid, task->real_parent->tgid) || initiator_excluded(task->tgid))
		return;

	struct creds_record *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_drop(RECORD_CREDS, DROP_RINGBUF_FULL);
		return;
	}
	rec->hdr.type = RECORD_CREDS;
	rec->hdr.flags = fill_task(task, &rec->hdr.task) | (known ? 0 : FLAG_OLD_CREDS_UNKNOWN);
	rec->old = prev;
	rec->syscall_id = id;
	rec->_pad = 0;
	bpf_ringbuf_submit(rec, submit_flag(sizeof(*rec)));
}

/* Every hooked syscall is handled at its exit alone: the file and socket
 * calls read their arguments from the registers saved at entry (pt_regs),
 * which the kernel does not change for these syscalls; a set*id call is
 * compared with the thread's credentials after its last one (task_creds).
 * No program runs at syscall entry, where it would cost every syscall of
 * the machine, and nothing is kept between entry and exit. */
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	__u32 cls = syscall_class_of(id);
	if (cls == CLASS_NONE)
		return 0;
	count_syscall(id);
	if (cls == CLASS_SETID) {
		creds_exit(bpf_get_current_task_btf(), id);
		return 0;
	}
	bool sock = cls == CLASS_SOCK;
	if (!sock && ret < 0 && !report_failed)
		return 0;
	if (syscall_excluded(id))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (!wanted(task->tgid, task->real_parent->tgid) || initiator_excluded(task->tgid))
		return 0;
	struct call_args c = {
		.args = {regs->di, regs->si, regs->dx, regs->r10, regs->r8, regs->r9},
		.id = id,
	};
	if (sock) {
		emit_sock(task, &c, ret);
		return 0;
	}
	if (file_op(id) == FILE_OP_OPEN) {
		if (open_mode == OPEN_NONE)
			return 0;
		if (open_mode == OPEN_WRITES && !writes(open_flags(id, c.args)))
			return 0;
	}
	emit_file(task, &c, ret);
	return 0;
}
