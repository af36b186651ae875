// SPDX-License-Identifier: GPL-2.0-or-later
#include "state/state.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include "basic/err.h"
#include "plan/layout.h"
#include "basic/trust.h"
#include "basic/util.h"
#include "kernel/procfs.h"
#include "state/record-json.h"
#include "state/record-text.h"
#include "tune/tune.h"

void vm_states_free(struct vm_state *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vm_state_done(&s[i]);
	free(s);
}


char *state_format(const struct vm_state *s)
{
	return record_json_format(s);
}

static bool is_json(const char *buf)
{
	buf += strspn(buf, " \t\r\n");
	return *buf == '{';
}

/* Either format, then what both must hold. -EBADMSG with *ret_why (caller frees)
 * saying what is wrong, a JSON record of another version included. */
static int parse_record(const char *buf, struct vm_state *ret, size_t *err_line, char **ret_why,
			bool *ret_legacy)
{
	*ret_why = NULL;
	struct vm_state s;
	size_t line = 0;
	bool json = is_json(buf);
	int r = json ? record_json_parse(buf, &s, &line, ret_why) : record_text_parse(buf, &s, &line);
	if (err_line)
		*err_line = line;
	if (r == -EPROTONOSUPPORT)
		r = -EBADMSG; /* the sentence says which version */
	if (r == -EBADMSG && !json && asprintf(ret_why, "damaged at line %zu", line) < 0)
		*ret_why = NULL;
	if (r < 0)
		return r;
	/* Both parsers check each value; this checks them together, as tune.c has it. */
	if (cputune_check(&s.tune.cputune) < 0) {
		if (asprintf(ret_why, "its tune: %s", err_get()) < 0)
			*ret_why = NULL;
		vm_state_done(&s);
		return -EBADMSG;
	}
	if (ret_legacy)
		*ret_legacy = !json;
	*ret = s;
	return 0;
}

int state_parse(const char *buf, struct vm_state *ret, size_t *err_line)
{
	_cleanup_free_ char *why = NULL;
	int r = parse_record(buf, ret, err_line, &why, NULL);
	if (r == -EBADMSG)
		err_set("refusing the record: %s", why ? why : "damaged");
	return r;
}

int state_check(const struct vm_state *s, char **ret_why)
{
	*ret_why = NULL;
	_cleanup_free_ char *bad = NULL;
	int n = 0;
#define REFUSE(...)                                                                                \
	do {                                                                                       \
		n = asprintf(ret_why, __VA_ARGS__);                                                \
		if (n < 0)                                                                         \
			*ret_why = NULL;                                                           \
		return -EBADMSG;                                                                   \
	} while (0)
	/* Without the VM's own origin, unpin would have to guess where it came from. */
	if (!record_find_thread(s, s->pid))
		REFUSE("it does not say where the VM's main thread %d came from", (int)s->pid);
	if (record_check_v1trees(s, ret_why) < 0)
		return -EBADMSG;
	if (s->backend == BACKEND_AFFINITY) {
		if (s->mount || s->vm_dir || s->n_created || s->n_enabled)
			REFUSE("an affinity-mode record that names cgroups");
		for (size_t i = 0; i < s->n_threads; i++)
			if (s->threads[i].cgroup && *s->threads[i].cgroup)
				REFUSE("an affinity-mode record that names a cgroup for thread %d", (int)s->threads[i].tid);
		return 0;
	}
	if (!s->mount || s->mount[0] != '/')
		REFUSE("its cgroup mount '%s' is not an absolute path", s->mount ? s->mount : "");
	if (!s->vm_dir || !*s->vm_dir || cg_path_check(s->vm_dir, &bad) < 0)
		REFUSE("its VM directory %s", bad ? bad : "is empty");
	_cleanup_free_ char *parent = layout_parent(s->vm_dir), *home = layout_home(s->vm_dir);
	if (!parent || !home)
		return -ENOMEM;
	/* A VM's directory is in a kvmcg/ tree, or directly below the --cgroup-root it
	 * was given: never an arbitrary cgroup someone else made. */
	bool in_tree = strcmp(home, s->vm_dir) != 0;
	if (s->root && (cg_path_check(s->root, &bad) < 0 || strcmp(parent, s->root) != 0))
		REFUSE("its VM directory /%s is not directly below its cgroup root /%s", s->vm_dir, s->root);
	if (!in_tree && !s->root)
		REFUSE("its VM directory /%s is neither inside a %s/ tree nor below a cgroup root it names", s->vm_dir,
		       LAYOUT_ROOT);
	bool in_place = layout_built_in_place(s->vm_dir);
	for (size_t i = 0; i < s->n_created; i++) {
		const char *c = s->created[i];
		_cleanup_free_ char *up = layout_parent(c);
		if (!up)
			return -ENOMEM;
		const char *base = strrchr(c, '/') ? strrchr(c, '/') + 1 : c;
		if (cg_path_check(c, &bad) < 0)
			REFUSE("a directory it made: %s", bad);
		if (strcmp(c, s->vm_dir) != 0 && !(strcmp(up, s->vm_dir) == 0 && layout_child_shaped(base)))
			REFUSE("it lists /%s as made for the VM, which is neither its directory /%s nor one of its "
			       "children",
			       c, s->vm_dir);
	}
	for (size_t i = 0; i < s->n_enabled; i++) {
		const struct enabled_controller *e = &s->enabled[i];
		if (strcmp(e->dir, parent) != 0 || !in_place)
			REFUSE("it enabled a controller in /%s, which is not the cgroup the VM's tree /%s was built in",
			       e->dir, s->vm_dir);
		if (strcmp(e->controller, "cpuset") != 0 && strcmp(e->controller, "cpu") != 0 &&
		    strcmp(e->controller, "io") != 0)
			REFUSE("it enabled the controller '%s', which kvmcg never enables", e->controller);
	}
	/* Lines are written back only in the cgroup the VM's tree was built in (its io
	 * domain), to the io files kvmcg writes, one line each. */
	for (size_t i = 0; i < s->n_restore; i++) {
		const struct restore_line *l = &s->restore[i];
		if (strcmp(l->dir, parent) != 0 || !in_place)
			REFUSE("it would write back a line in /%s, which is not the cgroup the VM's tree /%s was built in",
			       l->dir, s->vm_dir);
		if (strcmp(l->file, "io.max") != 0 && strcmp(l->file, "io.weight") != 0 &&
		    strcmp(l->file, "io.bfq.weight") != 0)
			REFUSE("it would write back %s, which is not a file kvmcg writes lines to", l->file);
		if (!*l->line || *l->line == ' ' || strpbrk(l->line, "\n\r\t") || !strchr(l->line, ' '))
			REFUSE("its line for /%s/%s is not one \"KEY VALUE\" line", l->dir, l->file);
	}
	for (size_t i = 0; i < s->n_threads; i++) {
		const char *cg = cg_relative(s->threads[i].cgroup);
		if (*cg && cg_path_check(cg, &bad) < 0)
			REFUSE("the origin of thread %d: %s", (int)s->threads[i].tid, bad);
		if (layout_in_kvmcg_tree(cg))
			REFUSE("it gives /%s, inside a kvmcg/ tree, as the origin of thread %d; kvmcg's own cgroups "
			       "are never one",
			       cg, (int)s->threads[i].tid);
	}
#undef REFUSE
	return 0;
}

const char *state_dir_path(void)
{
	const char *path = getenv("KVMCG_STATE_DIR");
	return path && *path ? path : STATE_DIR_DEFAULT;
}

int state_dir_open(bool create)
{
	const char *path = state_dir_path();
	_cleanup_free_ char *why = NULL;
	int fd = trust_open(path, O_RDONLY | O_DIRECTORY, create ? 0700 : 0, true, &why);
	if (fd < 0 && why)
		err_set("the state directory: %s", why);
	return fd;
}

static void state_name(char *buf, size_t size, pid_t pid, uint64_t starttime, const char *suffix)
{
	snprintf(buf, size, "%d-%llu.%s", (int)pid, (unsigned long long)starttime, suffix);
}

/* The pid the watch lock file says, or -1. */
static pid_t watch_lock_pid(int fd)
{
	char buf[24] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	int pid;
	return parse_int(buf, &pid) == 0 && pid > 0 ? pid : -1;
}

int state_watch_running(int dirfd, pid_t *ret_pid)
{
	*ret_pid = 0;
	_cleanup_close_ int fd = openat(dirfd, STATE_WATCH_LOCK, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		(void)flock(fd, LOCK_UN);
		return 0;
	}
	if (errno != EWOULDBLOCK)
		return -errno;
	*ret_pid = watch_lock_pid(fd);
	return 0;
}

int state_watch_lock(int dirfd, int *ret_fd, pid_t *ret_holder)
{
	*ret_holder = 0;
	int fd = openat(dirfd, STATE_WATCH_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK)
			*ret_holder = watch_lock_pid(fd);
		close(fd);
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

int state_watch_set_pid(int fd, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (ftruncate(fd, 0) < 0)
		return -errno;
	return pwrite(fd, buf, (size_t)n, 0) == n ? 0 : -EIO;
}

int state_unmanaged_set(int dirfd, pid_t pid, uint64_t starttime)
{
	char name[64];
	state_name(name, sizeof(name), pid, starttime, "unmanaged");
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* a second unpin: now is the time that counts */
	return futimens(fd, NULL) < 0 ? -errno : 0;
}

bool state_unmanaged_since(int dirfd, pid_t pid, uint64_t starttime, const struct timespec *t)
{
	char name[64];
	struct stat st;
	state_name(name, sizeof(name), pid, starttime, "unmanaged");
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && timespec_cmp(&st.st_mtim, t) >= 0;
}

int state_unmanaged_clear(int dirfd, pid_t pid, uint64_t starttime)
{
	char name[64];
	state_name(name, sizeof(name), pid, starttime, "unmanaged");
	return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
}

/* The locks this process holds (state_lock), so that state_load knows when it may
 * rewrite a record, and state_unlock whether it should: convert is set when a record
 * in the text format was loaded under the lock, cleared when the record is saved or
 * removed. kvmcg takes and releases locks from one thread. */
struct held_lock {
	pid_t pid;
	uint64_t starttime;
	int fd;
	bool convert;
};
static struct held_lock *held;
static size_t n_held;

static struct held_lock *held_find(pid_t pid, uint64_t starttime)
{
	for (size_t i = 0; i < n_held; i++)
		if (held[i].pid == pid && held[i].starttime == starttime)
			return &held[i];
	return NULL;
}

int state_read_trusted(int dirfd, const char *name, const char *what, char **ret_buf, char **ret_why)
{
	*ret_why = NULL;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		if (asprintf(ret_why, "not a regular file") < 0)
			*ret_why = NULL;
		return -EBADMSG;
	}
	int r = trust_check_stat(&st, what, name, ret_why);
	/* its sentence names the file already */
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	r = read_fd(fd, &buf, &len);
	if (r < 0)
		return r;
	if (strlen(buf) != len) {
		if (asprintf(ret_why, "it has a NUL byte") < 0)
			*ret_why = NULL;
		return -EBADMSG;
	}
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

/* The one way a record is read: from a file kvmcg may trust, then checked.
 * *ret_legacy (when given) says whether it is in the text format. */
static int load_named(int dirfd, const char *name, struct vm_state *ret, char **ret_why, bool *ret_legacy)
{
	_cleanup_free_ char *buf = NULL;
	int r = state_read_trusted(dirfd, name, "the record", &buf, ret_why);
	if (r < 0)
		return r;
	struct vm_state s;
	r = parse_record(buf, &s, NULL, ret_why, ret_legacy);
	if (r < 0)
		return r;
	r = state_check(&s, ret_why);
	if (r < 0) {
		vm_state_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

/* The sentence that says why the record name was not read. */
static char *refusal(const char *name, int r, const char *why)
{
	char *s = NULL;
	int n;
	if (r == -EPERM && why)
		n = asprintf(&s, "%s", why); /* it names the file */
	else if (r == -ELOOP)
		n = asprintf(&s, "refusing the record %s: it is a symbolic link", name);
	else if (why || r == -EBADMSG)
		n = asprintf(&s, "refusing the record %s: %s", name, why ? why : "damaged");
	else
		n = asprintf(&s, "cannot read the record %s: %s", name, strerror(-r));
	return n < 0 ? NULL : s;
}

/* load_named, and the record must be the one its name says. */
static int load_vm(int dirfd, pid_t pid, uint64_t starttime, struct vm_state *ret, bool *ret_legacy)
{
	char name[64];
	state_name(name, sizeof(name), pid, starttime, "state");
	_cleanup_free_ char *why = NULL;
	int r = load_named(dirfd, name, ret, &why, ret_legacy);
	if (r == 0 && (ret->pid != pid || ret->starttime != starttime)) {
		vm_state_done(ret);
		r = -EBADMSG;
		if (asprintf(&why, "its pid and start time are another VM's") < 0)
			why = NULL;
	}
	if (r < 0 && r != -ENOENT) {
		_cleanup_free_ char *sentence = refusal(name, r, why);
		err_set("%s", sentence ? sentence : strerror(-r));
	}
	return r;
}

int state_load(int dirfd, pid_t pid, uint64_t starttime, struct vm_state *ret)
{
	bool legacy = false;
	int r = load_vm(dirfd, pid, starttime, ret, &legacy);
	/* Under the lock a text record becomes JSON, before the lock goes (state_unlock);
	 * a reader without it (list, show, a dry run) leaves the file alone. */
	struct held_lock *h = held_find(pid, starttime);
	if (r == 0 && legacy && h)
		h->convert = true;
	return r;
}

/* A text record, rewritten as JSON (once, under the lock). Says nothing: the run's
 * own sentence in err_get() stays. */
static void convert_legacy(int dirfd, pid_t pid, uint64_t starttime)
{
	char name[64];
	state_name(name, sizeof(name), pid, starttime, "state");
	struct vm_state s;
	_cleanup_free_ char *why = NULL;
	bool legacy = false;
	if (load_named(dirfd, name, &s, &why, &legacy) < 0)
		return; /* gone, or no longer one to trust: nothing to convert */
	if (legacy && s.pid == pid && s.starttime == starttime && state_save(dirfd, &s) < 0) {
		/* still read as it is; the next run converts it */
	}
	vm_state_done(&s);
}

int state_write_atomic(int dirfd, const char *name, const char *text)
{
	static unsigned counter;
	char tmp[128];
	/* A name no other writer uses, even one that ignores the lock. */
	snprintf(tmp, sizeof(tmp), ".%s.%d.%u.tmp", name, (int)getpid(), counter++);
	_cleanup_close_ int fd =
		openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	/* Left by a kvmcg that was killed with this pid: ours to replace */
	if (fd < 0 && errno == EEXIST && unlinkat(dirfd, tmp, 0) == 0)
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			unlinkat(dirfd, tmp, 0);
			return r;
		}
		off += (size_t)n;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int r = -errno;
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return 0;
}

int state_save(int dirfd, const struct vm_state *s)
{
	char name[64];
	state_name(name, sizeof(name), s->pid, s->starttime, "state");
	_cleanup_free_ char *text = state_format(s);
	if (!text)
		return -ENOMEM;
	int r = state_write_atomic(dirfd, name, text);
	if (r < 0)
		return r;
	struct held_lock *h = held_find(s->pid, s->starttime);
	if (h)
		h->convert = false; /* it is JSON now */
	return 0;
}

int state_remove(int dirfd, pid_t pid, uint64_t starttime)
{
	char name[64];
	state_name(name, sizeof(name), pid, starttime, "state");
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	struct held_lock *h = held_find(pid, starttime);
	if (h)
		h->convert = false;
	return 0;
}

/* The pid and start time a record's file name gives ("PID-STARTTIME.state", as
 * state_name() writes it); false for any other name. */
static bool parse_state_name(const char *name, pid_t *pid, uint64_t *starttime)
{
	unsigned long long p, t;
	int end = 0;
	if (sscanf(name, "%llu-%llu.state%n", &p, &t, &end) != 2 || name[end] != '\0' || p == 0 ||
	    p > INT32_MAX || !isdigit((unsigned char)name[0]))
		return false;
	char again[64];
	state_name(again, sizeof(again), (pid_t)p, t, "state");
	if (strcmp(again, name) != 0) /* "007-1.state", "1-+2.state" */
		return false;
	*pid = (pid_t)p;
	*starttime = t;
	return true;
}

int state_load_all_checked(int dirfd, struct vm_state **ret, size_t *ret_n, char ***ret_problems)
{
	return state_load_some(dirfd, NULL, NULL, ret, ret_n, ret_problems);
}

int state_load_some(int dirfd, bool (*wanted)(pid_t pid, uint64_t starttime, void *arg), void *arg,
		    struct vm_state **ret, size_t *ret_n, char ***ret_problems)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	struct vm_state *v = NULL;
	size_t n = 0, n_problems = 0;
	char **problems = NULL;
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 7 || strcmp(de->d_name + l - 6, ".state") != 0)
			continue;
		pid_t named_pid;
		uint64_t named_start;
		if (wanted && parse_state_name(de->d_name, &named_pid, &named_start) &&
		    !wanted(named_pid, named_start, arg))
			continue;
		struct vm_state s;
		_cleanup_free_ char *why = NULL, *line = NULL;
		int k = load_named(dirfd, de->d_name, &s, &why, NULL);
		if (k == -ENOENT)
			continue; /* removed meanwhile */
		char want[64];
		if (k == 0) {
			state_name(want, sizeof(want), s.pid, s.starttime, "state");
			if (strcmp(want, de->d_name) != 0) {
				vm_state_done(&s);
				k = -EBADMSG;
				if (asprintf(&why, "its pid and start time are another VM's") < 0)
					why = NULL;
			}
		}
		if (k < 0) {
			/* a sentence, like state_load's */
			line = refusal(de->d_name, k, why);
			if (!line || (ret_problems && strv_push(&problems, &n_problems, line) < 0))
				r = -ENOMEM;
			continue;
		}
		struct vm_state *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			vm_state_done(&s);
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[n++] = s;
	}
	closedir(d);
	if (r < 0) {
		vm_states_free(v, n);
		strv_free(problems);
		return r;
	}
	*ret = v;
	*ret_n = n;
	if (ret_problems)
		*ret_problems = problems;
	return 0;
}

int state_load_all(int dirfd, struct vm_state **ret, size_t *ret_n)
{
	return state_load_all_checked(dirfd, ret, ret_n, NULL);
}

/* "pid 123 (kvmcg pin)" from a lock file, or a generic word when it says nothing yet. */
static char *lock_holder(int fd)
{
	char buf[128];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return strdup("another kvmcg run");
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return strdup(buf);
}

int state_lock_file(int dirfd, const char *name, int timeout_ms, const char *command, int *ret_fd,
		    char **ret_holder)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	unsigned wait_us = 1000;
	for (;;) {
		_cleanup_close_ int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
		if (fd < 0) {
			int r = -errno;
			if (r == -ELOOP)
				err_set("refusing the lock file %s: it is a symbolic link", name);
			return r;
		}
		/* kvmcg writes into it: it must be kvmcg's own file, not a link to another */
		struct stat lst;
		_cleanup_free_ char *why = NULL;
		if (fstat(fd, &lst) < 0)
			return -errno;
		if (!S_ISREG(lst.st_mode) || lst.st_nlink != 1) {
			err_set("refusing the lock file %s: %s", name,
				S_ISREG(lst.st_mode) ? "it has another name too (a hard link)" : "not a regular file");
			return -EPERM;
		}
		if (trust_check_stat(&lst, "the lock file", name, &why) < 0) {
			err_set("%s", why ? why : "refusing the lock file");
			return -EPERM;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno != EWOULDBLOCK)
				return -errno;
			if (now_ns() >= deadline) {
				if (ret_holder)
					*ret_holder = lock_holder(fd);
				return -ETIMEDOUT;
			}
			usleep(wait_us);
			wait_us = wait_us < 16000 ? wait_us * 2 : wait_us;
			continue;
		}
		/* The holder before us may have removed the file it locked: then ours is
		 * a stale inode, and the lock is on the new file. */
		struct stat have, now;
		if (fstat(fd, &have) < 0)
			return -errno;
		if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 || have.st_ino != now.st_ino ||
		    have.st_dev != now.st_dev)
			continue;
		char who[96];
		int len = snprintf(who, sizeof(who), "pid %d (kvmcg %s)\n", (int)getpid(), command);
		if (ftruncate(fd, 0) < 0 || pwrite(fd, who, (size_t)len, 0) != len) {
			/* the lock holds without the note */
		}
		*ret_fd = TAKE_FD(fd);
		return 0;
	}
}

int state_lock(int dirfd, pid_t pid, uint64_t starttime, int timeout_ms, const char *command, int *ret_fd,
	       char **ret_holder)
{
	char name[64];
	state_name(name, sizeof(name), pid, starttime, "lock");
	int fd;
	int r = state_lock_file(dirfd, name, timeout_ms, command, &fd, ret_holder);
	if (r < 0)
		return r;
	struct held_lock *nh = realloc(held, (n_held + 1) * sizeof(*nh));
	if (nh) { /* else held all the same; only a text record stays text */
		held = nh;
		held[n_held++] = (struct held_lock){.pid = pid, .starttime = starttime, .fd = fd};
	}
	*ret_fd = fd;
	return 0;
}

void state_unlock(int dirfd, pid_t pid, uint64_t starttime, int fd)
{
	if (fd < 0)
		return;
	for (size_t i = 0; i < n_held; i++)
		if (held[i].fd == fd && held[i].pid == pid && held[i].starttime == starttime) {
			/* A text record this run read and neither saved nor removed */
			if (held[i].convert)
				convert_legacy(dirfd, pid, starttime);
			held[i] = held[--n_held];
			break;
		}
	if (n_held == 0) {
		free(held);
		held = NULL;
	}
	char name[64], record[64];
	state_name(name, sizeof(name), pid, starttime, "lock");
	state_name(record, sizeof(record), pid, starttime, "state");
	struct stat st;
	/* Removed while held, so nobody locks a file that is about to go. */
	if (fstatat(dirfd, record, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		unlinkat(dirfd, name, 0);
	else if (ftruncate(fd, 0) < 0) {
		/* the next holder overwrites it */
	}
	close(fd);
}

/* ".NAME.PID.N.tmp" (state_write_atomic) of a writer that no longer runs: it was
 * killed between writing and renaming. */
static bool stale_temporary(const char *name)
{
	size_t l = strlen(name);
	if (name[0] != '.' || l < 8 || strcmp(name + l - 4, ".tmp") != 0)
		return false;
	/* back over ".N" and ".PID" */
	const char *end = name + l - 4, *p = end;
	while (p > name && p[-1] != '.')
		p--;
	if (p == end || p <= name + 1)
		return false;
	const char *n_dot = p - 1, *q = n_dot;
	while (q > name && q[-1] != '.')
		q--;
	if (q == n_dot || q <= name + 1)
		return false;
	char pid_text[16];
	size_t pl = (size_t)(n_dot - q);
	if (pl >= sizeof(pid_text))
		return false;
	memcpy(pid_text, q, pl);
	pid_text[pl] = '\0';
	pid_t pid;
	if (parse_pid(pid_text, &pid) < 0)
		return false;
	return kill(pid, 0) < 0 && errno == ESRCH;
}

void state_collect_files(int dirfd, int proc_fd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		int pid = 0;
		unsigned long long start = 0;
		int n = 0;
		if (stale_temporary(de->d_name)) {
			unlinkat(dirfd, de->d_name, 0);
			continue;
		}
		if (sscanf(de->d_name, "%d-%llu.unmanaged%n", &pid, &start, &n) == 2 && !de->d_name[n] && pid > 0) {
			if (!proc_process_alive(proc_fd, pid, start))
				unlinkat(dirfd, de->d_name, 0);
			continue;
		}
		if (sscanf(de->d_name, "%d-%llu.lock%n", &pid, &start, &n) != 2 || de->d_name[n] || pid <= 0)
			continue;
		char record[64];
		struct stat st;
		state_name(record, sizeof(record), pid, start, "state");
		if (fstatat(dirfd, record, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		int lock = -1;
		if (state_lock(dirfd, pid, start, 0, "collect", &lock, NULL) == 0)
			state_unlock(dirfd, pid, start, lock);
	}
	closedir(d);
}

/* ---- kvmcg run's private directories ---------------------------------------------------------- */

/* A run's directory nobody uses any more: the run that made it is gone (it held a
 * lock on the directory while it lived) and the socket in it has no listener (its
 * QEMU is gone too; QEMU removes the socket when it exits cleanly). */
static bool launch_dir_stale(int top_fd, const char *name)
{
	_cleanup_close_ int dfd = openat(top_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX | LOCK_NB) < 0)
		return false; /* its run is still on */
	char sock[256];
	snprintf(sock, sizeof(sock), "%s/qmp.sock", name);
	struct stat ss;
	if (fstatat(top_fd, sock, &ss, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT;
	if (!S_ISSOCK(ss.st_mode))
		return false;
	char full[PATH_MAX];
	snprintf(full, sizeof(full), "%s/%s/%s", state_dir_path(), STATE_LAUNCH_DIR, sock);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(full) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, full);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED;
}

void state_launch_dirs_sweep(void)
{
	_cleanup_free_ char *top = NULL;
	if (asprintf(&top, "%s/%s", state_dir_path(), STATE_LAUNCH_DIR) < 0)
		return;
	int fd = open(top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "run-", 4) != 0 || !launch_dir_stale(dirfd(d), de->d_name))
			continue;
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/%s", top, de->d_name) >= 0)
			state_launch_dir_remove(path);
	}
	closedir(d);
}

int state_launch_dir(char **ret_path, int *ret_lock_fd)
{
	_cleanup_close_ int fd = state_dir_open(true);
	if (fd < 0)
		return fd;
	if (mkdirat(fd, STATE_LAUNCH_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* the walk again: "launch" must be a directory of ours, not a link someone made */
	_cleanup_free_ char *top = NULL, *why = NULL;
	if (asprintf(&top, "%s/%s", state_dir_path(), STATE_LAUNCH_DIR) < 0)
		return -ENOMEM;
	_cleanup_close_ int lfd = trust_open(top, O_RDONLY | O_DIRECTORY, 0, true, &why);
	if (lfd < 0) {
		err_set("%s: %s", top, why ? why : strerror(-lfd));
		return lfd;
	}
	char *path = NULL;
	if (asprintf(&path, "%s/run-XXXXXX", top) < 0)
		return -ENOMEM;
	if (!mkdtemp(path)) {
		int e = errno;
		err_set("cannot make a directory in %s: %s", top, strerror(e));
		free(path);
		return -e;
	}
	/* held while the run lives: a sweep leaves the directory alone meanwhile */
	int lock = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		int e = errno;
		if (lock >= 0)
			close(lock);
		rmdir(path);
		free(path);
		return -e;
	}
	*ret_path = path;
	*ret_lock_fd = lock;
	return 0;
}

void state_launch_dir_remove(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d)
		return;
	fd = -1;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(path);
}
