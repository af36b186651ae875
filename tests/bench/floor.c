/* floor: the kernel work of one `kvmcg pin` on a cgroup-v1 cpuset hierarchy, and
 * nothing else. It is the yardstick of `make bench` (tests/bench/README.md): what a
 * program that already knows every answer must still ask the kernel to do.
 *
 *   floor pin   MOUNT VMDIR PID VMCPUS MEMS TID=CHILD:CPUS...
 *   floor check MOUNT VMDIR PID VMCPUS MEMS TID=CHILD:CPUS...
 *   floor clean MOUNT VMDIR [TO [TO_CPUS]]
 *
 * MOUNT is the v1 cpuset mount (/sys/fs/cgroup/cpuset), VMDIR the VM's directory
 * below it (/kvmcg/NAME; its parent must exist), PID the VM, VMCPUS and MEMS the
 * VM directory's cpuset.cpus and cpuset.mems. Each TID=CHILD:CPUS puts thread TID in
 * VMDIR/CHILD with affinity CPUS; a CHILD's cpuset.cpus is its threads' CPUS (they
 * must agree). Children are made in the order they first appear. Nothing is looked
 * up: the caller works out the threads and their children beforehand, untimed.
 *
 * pin, in the order the kernel needs (v1: a cpuset takes tasks only once cpus and
 * mems are set; Linux 6.1 resets a thread's affinity when it changes cpuset):
 *   mkdir VMDIR; write its cpuset.cpus, cpuset.mems;
 *   per child: mkdir, cpuset.cpus, cpuset.mems, cpuset.memory_migrate = 1;
 *   per child: open tasks once, one write(2) per TID (one move per thread);
 *   per thread: sched_setaffinity.
 * It stops at the first error (exit 1) and leaves what it made: `floor clean`
 * removes it.
 *
 * check: the read-back of an unchanged re-pin: list /proc/PID/task (a thread that is
 * not named is a difference), per thread read /proc/PID/task/TID/cgroup and
 * sched_getaffinity, read cpuset.cpus and cpuset.mems of VMDIR and of each child and
 * each child's cpuset.memory_migrate. Exit 0 when all is as asked, 1 when anything
 * differs (each difference named on stderr).
 *
 * clean: every task in VMDIR or a directory below it goes to TO's tasks (default: the
 * hierarchy's root, "/") with affinity TO_CPUS (default: TO's
 * cpuset.effective_cpus), then the directories are removed. A VMDIR that does not
 * exist is not an error. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_CPUS 8192 /* CPU numbers the lists may name */

struct child {
	const char *name;
	const char *cpus; /* as given */
	cpu_set_t *set;
};

struct thread {
	pid_t tid;
	size_t child;
};

static const char *prog = "floor";
static size_t setsize;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static cpu_set_t *set_new(void)
{
	cpu_set_t *s = CPU_ALLOC(MAX_CPUS);
	if (!s)
		die("out of memory");
	CPU_ZERO_S(setsize, s);
	return s;
}

/* "0-3,8,10-11" (with optional ":stride" after a range) into s; false if malformed. */
static bool parse_cpus(const char *text, cpu_set_t *s)
{
	const char *p = text;
	CPU_ZERO_S(setsize, s);
	while (*p && *p != '\n') {
		char *end;
		errno = 0;
		unsigned long a = strtoul(p, &end, 10), b = a, stride = 1;
		if (end == p || errno)
			return false;
		p = end;
		if (*p == '-') {
			b = strtoul(p + 1, &end, 10);
			if (end == p + 1)
				return false;
			p = end;
			if (*p == ':') {
				stride = strtoul(p + 1, &end, 10);
				if (end == p + 1 || stride == 0)
					return false;
				p = end;
			}
		}
		if (a > b || b >= MAX_CPUS)
			return false;
		for (unsigned long c = a; c <= b; c += stride)
			CPU_SET_S(c, setsize, s);
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return false;
	}
	return true;
}

static void path_of(char *buf, const char *mount, const char *dir, const char *child,
		    const char *file)
{
	int n = snprintf(buf, PATH_MAX, "%s%s%s%s%s%s", mount, dir, child ? "/" : "",
			 child ? child : "", file ? "/" : "", file ? file : "");
	if (n < 0 || n >= PATH_MAX)
		die("path too long: %s%s", mount, dir);
}

/* One open, one write, one close. */
static void put(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	size_t len = strlen(value);
	ssize_t w = write(fd, value, len);
	if (w != (ssize_t)len)
		die("write %s to %s: %s", value, path, w < 0 ? strerror(errno) : "short write");
	close(fd);
}

/* Reads a small file into buf (NUL-terminated); -errno on failure, -EFBIG if it does
 * not fit. One read(2): procfs and cgroupfs hand a small file over whole, so the
 * read that would return 0 is left out. */
static int get(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t r = read(fd, buf, size - 1);
	int e = errno;
	close(fd);
	if (r < 0)
		return -e;
	if ((size_t)r == size - 1)
		return -EFBIG;
	size_t n = (size_t)r;
	buf[n] = '\0';
	return 0;
}

/* --- the arguments ------------------------------------------------------------ */

struct job {
	const char *mount, *dir, *vmcpus, *mems;
	pid_t pid;
	struct child *children;
	size_t n_children;
	struct thread *threads;
	size_t n_threads;
};

static pid_t parse_pid(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		die("not a pid: %s", s);
	return (pid_t)v;
}

static void parse_job(struct job *j, int argc, char **argv)
{
	j->mount = argv[0];
	j->dir = argv[1];
	j->pid = parse_pid(argv[2]);
	j->vmcpus = argv[3];
	j->mems = argv[4];
	if (j->dir[0] != '/' || strstr(j->dir, "/..") || strlen(j->dir) < 2)
		die("VMDIR must start with / and not be the root: %s", j->dir);
	size_t n = (size_t)argc - 5;
	j->threads = calloc(n, sizeof(*j->threads));
	j->children = calloc(n, sizeof(*j->children));
	if (!j->threads || !j->children)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		char *arg = argv[5 + i], *eq = strchr(arg, '='), *colon = eq ? strrchr(eq, ':') : NULL;
		if (!eq || !colon || colon == eq + 1 || !colon[1])
			die("not TID=CHILD:CPUS: %s", arg);
		*eq = *colon = '\0';
		const char *name = eq + 1, *cpus = colon + 1;
		if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
			die("not a child directory name: %s", name);
		size_t c = 0;
		while (c < j->n_children && strcmp(j->children[c].name, name))
			c++;
		if (c == j->n_children) {
			j->children[c].name = name;
			j->children[c].cpus = cpus;
			j->children[c].set = set_new();
			if (!parse_cpus(cpus, j->children[c].set))
				die("not a CPU list: %s", cpus);
			j->n_children++;
		} else if (strcmp(j->children[c].cpus, cpus)) {
			die("%s: CPUs %s and %s for one child", name, j->children[c].cpus, cpus);
		}
		j->threads[i].tid = parse_pid(arg);
		j->threads[i].child = c;
	}
	j->n_threads = n;
}

/* --- pin ------------------------------------------------------------------------ */

static int do_pin(const struct job *j)
{
	char path[PATH_MAX], num[32];

	path_of(path, j->mount, j->dir, NULL, NULL);
	if (mkdir(path, 0755) < 0)
		die("mkdir %s: %s", path, strerror(errno));
	path_of(path, j->mount, j->dir, NULL, "cpuset.cpus");
	put(path, j->vmcpus);
	path_of(path, j->mount, j->dir, NULL, "cpuset.mems");
	put(path, j->mems);

	for (size_t c = 0; c < j->n_children; c++) {
		const struct child *ch = &j->children[c];
		path_of(path, j->mount, j->dir, ch->name, NULL);
		if (mkdir(path, 0755) < 0)
			die("mkdir %s: %s", path, strerror(errno));
		path_of(path, j->mount, j->dir, ch->name, "cpuset.cpus");
		put(path, ch->cpus);
		path_of(path, j->mount, j->dir, ch->name, "cpuset.mems");
		put(path, j->mems);
		path_of(path, j->mount, j->dir, ch->name, "cpuset.memory_migrate");
		put(path, "1");
	}

	for (size_t c = 0; c < j->n_children; c++) {
		path_of(path, j->mount, j->dir, j->children[c].name, "tasks");
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			die("open %s: %s", path, strerror(errno));
		for (size_t t = 0; t < j->n_threads; t++) {
			if (j->threads[t].child != c)
				continue;
			int len = snprintf(num, sizeof(num), "%d", (int)j->threads[t].tid);
			if (write(fd, num, (size_t)len) != len)
				die("move %s to %s: %s", num, path, strerror(errno));
		}
		close(fd);
	}

	for (size_t t = 0; t < j->n_threads; t++) {
		const struct child *ch = &j->children[j->threads[t].child];
		if (sched_setaffinity(j->threads[t].tid, setsize, ch->set) < 0)
			die("sched_setaffinity %d %s: %s", (int)j->threads[t].tid, ch->cpus,
			    strerror(errno));
	}
	return 0;
}

/* --- check ---------------------------------------------------------------------- */

static int differences;

static void differ(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void differ(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: differs: ", prog);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	differences++;
}

/* The cpuset line of a /proc/.../cgroup file: "N:cpuset[,...]:/path". */
static const char *cpuset_path(char *text)
{
	for (char *line = text; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2) {
			*c2 = '\0';
			for (char *tok = c1 + 1, *sp; (tok = strtok_r(tok, ",", &sp)); tok = NULL)
				if (!strcmp(tok, "cpuset"))
					return c2 + 1;
		}
		line = next;
	}
	return NULL;
}

static void check_file(const char *mount, const char *dir, const char *child,
		       const char *file, const char *want, bool as_cpus, cpu_set_t *a,
		       cpu_set_t *b)
{
	char path[PATH_MAX], buf[4096];
	path_of(path, mount, dir, child, file);
	int r = get(path, buf, sizeof(buf));
	if (r < 0) {
		differ("%s: %s", path, strerror(-r));
		return;
	}
	bool same;
	if (as_cpus)
		same = parse_cpus(buf, a) && parse_cpus(want, b) && CPU_EQUAL_S(setsize, a, b);
	else
		same = !strncmp(buf, want, strlen(want)) &&
		       (buf[strlen(want)] == '\n' || !buf[strlen(want)]);
	if (!same)
		differ("%s is %.*s, not %s", path, (int)strcspn(buf, "\n"), buf, want);
}

static int do_check(const struct job *j)
{
	char path[PATH_MAX], buf[4096], want[PATH_MAX];
	cpu_set_t *a = set_new(), *b = set_new();

	/* Every thread the VM has is one that was named. */
	snprintf(path, sizeof(path), "/proc/%d/task", (int)j->pid);
	DIR *d = opendir(path);
	if (!d)
		die("%s: %s", path, strerror(errno));
	size_t seen = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		pid_t tid = (pid_t)atoi(e->d_name);
		size_t t = 0;
		while (t < j->n_threads && j->threads[t].tid != tid)
			t++;
		if (t == j->n_threads)
			differ("thread %d is not one of the %zu named", (int)tid, j->n_threads);
		else
			seen++;
	}
	closedir(d);
	if (seen != j->n_threads)
		differ("%zu of the %zu named threads are gone", j->n_threads - seen, j->n_threads);

	for (size_t t = 0; t < j->n_threads; t++) {
		const struct child *ch = &j->children[j->threads[t].child];
		pid_t tid = j->threads[t].tid;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", (int)j->pid, (int)tid);
		int r = get(path, buf, sizeof(buf));
		const char *cg = r < 0 ? NULL : cpuset_path(buf);
		snprintf(want, sizeof(want), "%s/%s", j->dir, ch->name);
		if (!cg)
			differ("%s: no cpuset line (%s)", path, r < 0 ? strerror(-r) : "v1 only");
		else if (strcmp(cg, want))
			differ("thread %d is in %s, not %s", (int)tid, cg, want);
		if (sched_getaffinity(tid, setsize, a) < 0)
			differ("sched_getaffinity %d: %s", (int)tid, strerror(errno));
		else if (!CPU_EQUAL_S(setsize, a, ch->set))
			differ("thread %d's affinity is not %s", (int)tid, ch->cpus);
	}

	check_file(j->mount, j->dir, NULL, "cpuset.cpus", j->vmcpus, true, a, b);
	check_file(j->mount, j->dir, NULL, "cpuset.mems", j->mems, true, a, b);
	for (size_t c = 0; c < j->n_children; c++) {
		const struct child *ch = &j->children[c];
		check_file(j->mount, j->dir, ch->name, "cpuset.cpus", ch->cpus, true, a, b);
		check_file(j->mount, j->dir, ch->name, "cpuset.mems", j->mems, true, a, b);
		check_file(j->mount, j->dir, ch->name, "cpuset.memory_migrate", "1", false, a, b);
	}
	return differences ? 1 : 0;
}

/* --- clean ---------------------------------------------------------------------- */

/* Moves every task of MOUNT/DIR to the open tasks file `to` with affinity `set`,
 * then does the same for each subdirectory and removes it; DIR itself last. */
static void clean_dir(const char *path, int to, const cpu_set_t *set)
{
	char file[PATH_MAX], buf[65536];
	int n = snprintf(file, sizeof(file), "%s/tasks", path);
	if (n < 0 || n >= (int)sizeof(file))
		die("path too long: %s", path);

	DIR *d = opendir(path);
	if (!d)
		die("%s: %s", path, strerror(errno));
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		n = snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		if (n < 0 || n >= (int)sizeof(file))
			die("path too long: %s", path);
		clean_dir(file, to, set);
	}
	closedir(d);

	snprintf(file, sizeof(file), "%s/tasks", path);
	/* A thread born meanwhile shows up on the next pass. */
	for (int pass = 0; pass < 100; pass++) {
		int r = get(file, buf, sizeof(buf));
		if (r < 0)
			die("%s: %s", file, strerror(-r));
		if (!buf[0])
			break;
		for (char *line = buf, *next; *line; line = next) {
			next = line + strcspn(line, "\n");
			if (*next)
				*next++ = '\0';
			size_t len = strlen(line);
			/* ESRCH: it exited in between. */
			if (write(to, line, len) != (ssize_t)len && errno != ESRCH)
				die("move %s back: %s", line, strerror(errno));
			if (sched_setaffinity((pid_t)atoi(line), setsize, set) < 0 && errno != ESRCH)
				die("sched_setaffinity %s: %s", line, strerror(errno));
		}
	}
	for (int tries = 0; rmdir(path) < 0; tries++) {
		if (errno != EBUSY || tries == 100)
			die("rmdir %s: %s", path, strerror(errno));
		usleep(10000);
	}
}

static int do_clean(const char *mount, const char *dir, const char *to, const char *to_cpus)
{
	char path[PATH_MAX], file[PATH_MAX], buf[4096];
	cpu_set_t *set = set_new();

	if (dir[0] != '/' || strstr(dir, "/..") || strlen(dir) < 2)
		die("VMDIR must start with / and not be the root: %s", dir);
	path_of(path, mount, dir, NULL, NULL);
	struct stat st;
	if (stat(path, &st) < 0 && errno == ENOENT)
		return 0;

	if (!to_cpus) {
		path_of(file, mount, strcmp(to, "/") ? to : "", NULL, "cpuset.effective_cpus");
		int r = get(file, buf, sizeof(buf));
		if (r < 0)
			die("cpuset.effective_cpus of %s: %s", to, strerror(-r));
		to_cpus = buf;
	}
	if (!parse_cpus(to_cpus, set))
		die("not a CPU list: %s", to_cpus);

	path_of(file, mount, strcmp(to, "/") ? to : "", NULL, "tasks");
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", file, strerror(errno));
	clean_dir(path, fd, set);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setsize = CPU_ALLOC_SIZE(MAX_CPUS);
	const char *usage =
		"usage: floor pin   MOUNT VMDIR PID VMCPUS MEMS TID=CHILD:CPUS...\n"
		"       floor check MOUNT VMDIR PID VMCPUS MEMS TID=CHILD:CPUS...\n"
		"       floor clean MOUNT VMDIR [TO [TO_CPUS]]\n";
	if (argc >= 2 && !strcmp(argv[1], "clean") && argc >= 4 && argc <= 6)
		return do_clean(argv[2], argv[3], argc > 4 ? argv[4] : "/", argc > 5 ? argv[5] : NULL);
	if (argc >= 8 && (!strcmp(argv[1], "pin") || !strcmp(argv[1], "check"))) {
		struct job j = { 0 };
		parse_job(&j, argc - 2, argv + 2);
		return !strcmp(argv[1], "pin") ? do_pin(&j) : do_check(&j);
	}
	fputs(usage, stderr);
	return 2;
}
