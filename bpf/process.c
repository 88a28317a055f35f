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
 *  - sys_enter / sys_exit: the set*id family has no tracepoint of its own, so
 *    the credentials are saved at entry of those syscalls and compared at exit.
 *    Both programs return after one range check for every other syscall.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sensor.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader before the programs are loaded. */
const volatile __u32 self_tgid = 0;      /* the sensor itself: never reported */
const volatile __u32 watch_ppid = 0;     /* when set, only this process's children */
const volatile __u64 wakeup_bytes = 0;   /* wake the reader once this much is pending */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by the loader */
} events SEC(".maps");

/* Records that could not be emitted, by record type and reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RECORD_TYPE_MAX * DROP_REASON_MAX);
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

/* Exec records are too large for the stack and for a per-CPU array value
 * (32 KiB limit), so each CPU gets one slot of a plain array, indexed by
 * bpf_get_smp_processor_id(). The loader sizes it to the possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_record);
} exec_scratch SEC(".maps");

/* Credentials at entry of a set*id syscall, by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct cred_ids);
} pending_creds SEC(".maps");

/* Keeps every shared type in the object's BTF so that bpf2go can generate
 * its Go twin (types only used in casts or constants would be dropped). */
struct btf_anchor {
	struct exec_record exec;
	struct fork_record fork;
	struct exit_record exit;
	struct creds_record creds;
	enum record_type type;
	enum drop_reason reason;
	enum record_flag flag;
};
struct btf_anchor *unused_btf_anchor __attribute__((unused));

/* Older kernels call kernfs_node's parent "parent" (renamed in 6.15). */
struct kernfs_node___pre615 {
	struct kernfs_node___pre615 *parent;
} __attribute__((preserve_access_index));

static __always_inline void count_drop(__u32 type, __u32 reason)
{
	__u32 key = type * DROP_REASON_MAX + reason;
	__u64 *n = bpf_map_lookup_elem(&drops, &key);
	if (n)
		*n += 1;
}

/* Wakeups are batched: a record wakes the reader only once wakeup_bytes are
 * pending; the reader also polls on a short deadline, so a quiet system still
 * sees its events promptly. */
static __always_inline __u64 wakeup_flag(void)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void read_creds(struct task_struct *t, struct cred_ids *c)
{
	const struct cred *cr = BPF_CORE_READ(t, cred);
	c->uid = BPF_CORE_READ(cr, uid.val);
	c->euid = BPF_CORE_READ(cr, euid.val);
	c->suid = BPF_CORE_READ(cr, suid.val);
	c->fsuid = BPF_CORE_READ(cr, fsuid.val);
	c->gid = BPF_CORE_READ(cr, gid.val);
	c->egid = BPF_CORE_READ(cr, egid.val);
	c->sgid = BPF_CORE_READ(cr, sgid.val);
	c->fsgid = BPF_CORE_READ(cr, fsgid.val);
}

static __always_inline __u32 fill_task(struct task_struct *t, struct task_ctx *c)
{
	__u32 flags = 0;

	c->ktime = bpf_ktime_get_boot_ns();
	c->pid = BPF_CORE_READ(t, tgid);
	c->tid = BPF_CORE_READ(t, pid);
	c->ppid = BPF_CORE_READ(t, real_parent, tgid);
	c->start_time = BPF_CORE_READ(t, group_leader, start_boottime);
	c->cgroup_id = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
	if (bpf_core_field_exists(t->loginuid)) {
		c->loginuid = BPF_CORE_READ(t, loginuid.val);
		flags |= FLAG_LOGINUID;
	}
	read_creds(t, &c->creds);
	bpf_probe_read_kernel_str(c->comm, sizeof(c->comm), &t->comm);
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

/* ---- path walk ---------------------------------------------------------- */

struct walk {
	struct dentry *dentry;
	struct mount *mnt;
	__u32 cpu;
	__u32 pos;   /* next write position in data */
	__u32 limit; /* no new component starts at or beyond this */
	__u32 done;  /* reached the root of the mount tree */
	__u32 disconnected;
};

static __always_inline struct mount *real_mount(struct vfsmount *vfsmnt)
{
	return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* Appends one NUL-terminated name at data[*pos] of this CPU's exec record
 * and advances *pos; false when there is no room left before limit or the
 * name cannot be read. */
static __always_inline bool append_name(__u32 cpu, __u32 *pos, __u32 limit, const void *name)
{
	__u32 p = *pos;
	if (p >= limit || p >= DATA_SIZE)
		return false;
	struct exec_record *rec = bpf_map_lookup_elem(&exec_scratch, &cpu);
	if (!rec)
		return false;
	long n = bpf_probe_read_kernel_str(&rec->data[p & DATA_MASK], NAME_CHUNK, name);
	if (n <= 0)
		return false;
	*pos = p + n;
	return true;
}

/* One step of a path walk from the leaf towards the root, as d_path() does
 * it (fs/d_path.c prepend_path): at the root of a mount, continue at its
 * mountpoint in the parent mount; stop at the root of the mount tree. Each
 * component is appended NUL-terminated, leaf first. */
static long walk_step(__u32 i, void *ctx)
{
	/* Locals, not w->x inside BPF_CORE_READ: the macro would relocate the
	 * access to our own struct against the kernel's BTF. */
	struct walk *w = ctx;
	struct dentry *d = w->dentry;
	struct mount *mnt = w->mnt;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);

	if (d == BPF_CORE_READ(mnt, mnt.mnt_root)) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);
		if (mp == mnt) { /* the root of the mount tree */
			w->done = 1;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mp;
		return 0;
	}

	if (!append_name(w->cpu, &w->pos, w->limit, BPF_CORE_READ(d, d_name.name)))
		return 1;
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

/* Appends the components of path p at data[pos]; returns the new position
 * and sets *truncated when the walk did not reach the root. */
static __always_inline __u32 append_path(__u32 cpu, struct dentry *dentry, struct vfsmount *vfsmnt,
					 __u32 pos, bool *truncated, bool *disconnected)
{
	struct walk w = {
		.dentry = dentry,
		.mnt = real_mount(vfsmnt),
		.cpu = cpu,
		.pos = pos,
		.limit = pos + PATH_BYTES_MAX,
	};
	if (!dentry || !vfsmnt) {
		*truncated = true;
		return pos;
	}
	bpf_loop(PATH_DEPTH_MAX, walk_step, &w, 0);
	*truncated = !w.done;
	*disconnected = w.disconnected;
	return w.pos;
}

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

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 pid = task->tgid;
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (!wanted(pid, ppid))
		return 0;

	__u32 cpu = bpf_get_smp_processor_id();
	struct exec_record *rec = bpf_map_lookup_elem(&exec_scratch, &cpu);
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

	bool trunc = false, disc = false;
	struct file *file = BPF_CORE_READ(bprm, file);
	struct dentry *exe_dentry = BPF_CORE_READ(file, f_path.dentry);
	__u32 pos = append_path(cpu, exe_dentry, BPF_CORE_READ(file, f_path.mnt), args_len, &trunc, &disc);
	if (trunc)
		flags |= FLAG_EXE_TRUNCATED;
	if (disc)
		flags |= FLAG_EXE_DISCONNECTED;
	/* d_unlinked(): unhashed and not a root. */
	if (exe_dentry && !BPF_CORE_READ(exe_dentry, d_hash.pprev) &&
	    BPF_CORE_READ(exe_dentry, d_parent) != exe_dentry)
		flags |= FLAG_EXE_DELETED;
	rec->exe_len = pos - args_len;

	__u32 cwd_start = pos;
	trunc = disc = false;
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	pos = append_path(cpu, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), pos, &trunc, &disc);
	if (trunc)
		flags |= FLAG_CWD_TRUNCATED;
	if (disc)
		flags |= FLAG_CWD_DISCONNECTED;
	rec->cwd_len = pos - cwd_start;

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
	__u64 size = offsetof(struct exec_record, data) + pos;
	if (size > sizeof(*rec))
		size = sizeof(*rec);
	if (bpf_ringbuf_output(&events, rec, size, wakeup_flag()) < 0)
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

	struct fork_record *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_drop(RECORD_FORK, DROP_RINGBUF_FULL);
		return 0;
	}
	rec->hdr.type = RECORD_FORK;
	rec->hdr.flags = fill_task(child, &rec->hdr.task);
	bpf_ringbuf_submit(rec, wakeup_flag());
	return 0;
}

/* ---- exit --------------------------------------------------------------- */

/* 6.16 added group_dead to the tracepoint: the result of the decrement of
 * signal->live, exactly once true per process. Older kernels only pass the
 * task; there signal->live is read, which two threads exiting at the same
 * moment can both see at zero. */
typedef void (*btf_trace_sched_process_exit___group_dead)(void *, struct task_struct *, bool);

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	bool group_dead;
	if (bpf_core_type_matches(btf_trace_sched_process_exit___group_dead))
		group_dead = (bool)ctx[1];
	else
		group_dead = BPF_CORE_READ(task, signal, live.counter) == 0;
	if (!group_dead)
		return 0;
	__u32 pid = task->tgid;
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (!wanted(pid, ppid))
		return 0;

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
	bpf_ringbuf_submit(rec, wakeup_flag());
	return 0;
}

/* ---- credentials -------------------------------------------------------- */

/* x86_64 syscall numbers of the set*id family. */
#define NR_SETUID 105
#define SETID_SPAN 19 /* setuid (105) .. setfsgid (123) */
#define SETID_MASK ((1u << (105 - NR_SETUID)) | (1u << (106 - NR_SETUID)) | /* setuid setgid */ \
		    (1u << (113 - NR_SETUID)) | (1u << (114 - NR_SETUID)) | /* setreuid setregid */ \
		    (1u << (117 - NR_SETUID)) | (1u << (119 - NR_SETUID)) | /* setresuid setresgid */ \
		    (1u << (122 - NR_SETUID)) | (1u << (123 - NR_SETUID)))  /* setfsuid setfsgid */

static __always_inline bool is_setid(long id)
{
	__u64 off = (__u64)(id - NR_SETUID);
	return off < SETID_SPAN && ((SETID_MASK >> off) & 1);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long id)
{
	if (!is_setid(id))
		return 0;
	__u32 key = id;
	__u64 *n = bpf_map_lookup_elem(&syscall_counts, &key);
	if (n)
		*n += 1;

	struct task_struct *task = bpf_get_current_task_btf();
	struct cred_ids c;
	read_creds(task, &c);
	__u32 tid = task->pid;
	bpf_map_update_elem(&pending_creds, &tid, &c, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	if (!is_setid(id))
		return 0;

	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tid = task->pid;
	struct cred_ids *old = bpf_map_lookup_elem(&pending_creds, &tid);
	if (!old)
		return 0;
	struct cred_ids prev = *old;
	bpf_map_delete_elem(&pending_creds, &tid);

	struct cred_ids now;
	read_creds(task, &now);
	if (__builtin_memcmp(&prev, &now, sizeof(now)) == 0)
		return 0;
	if (!wanted(task->tgid, BPF_CORE_READ(task, real_parent, tgid)))
		return 0;

	struct creds_record *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_drop(RECORD_CREDS, DROP_RINGBUF_FULL);
		return 0;
	}
	rec->hdr.type = RECORD_CREDS;
	rec->hdr.flags = fill_task(task, &rec->hdr.task);
	rec->old = prev;
	rec->syscall_id = id;
	rec->_pad = 0;
	bpf_ringbuf_submit(rec, wakeup_flag());
	return 0;
}
