/* timeit: runs one command and appends how long it took to a file, for the
 * interleaved runs of tests/bench/floor-bench.sh.
 *
 *   timeit FILE LABEL COMMAND [ARG...]
 *
 * Appends one line "LABEL WALL_MS USER_MS SYS_MS STATUS" to FILE: the wall-clock time
 * from just before the command is spawned to just after it is reaped
 * (CLOCK_MONOTONIC), and the CPU time the kernel charged to it and all its threads
 * and children (wait4's rusage). The command inherits stdin, stdout and stderr; the
 * shell's redirections and timeit's own start-up are outside the timed window.
 * Exits with the command's status (128 + N when signal N ended it), so a failure
 * stops the caller. */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double ms_tv(struct timeval tv)
{
	return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fputs("usage: timeit FILE LABEL COMMAND [ARG...]\n", stderr);
		return 2;
	}
	FILE *out = fopen(argv[1], "ae");
	if (!out) {
		fprintf(stderr, "timeit: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}

	struct timespec t0, t1;
	struct rusage ru;
	pid_t pid;
	int status;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = posix_spawnp(&pid, argv[3], NULL, NULL, argv + 3, environ);
	if (r) {
		fprintf(stderr, "timeit: %s: %s\n", argv[3], strerror(r));
		return 127;
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "timeit: wait4: %s\n", strerror(errno));
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	double wall = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	fprintf(out, "%s %.4f %.4f %.4f %d\n", argv[2], wall, ms_tv(ru.ru_utime), ms_tv(ru.ru_stime), rc);
	if (fclose(out) != 0) {
		fprintf(stderr, "timeit: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	return rc;
}
