/* forkstorm: an event storm of unrelated processes for kvmcg watch's bench
 * (tests/bench/watch-bench.sh): for SECONDS, fork children that exit at once (each
 * one a FORK and an EXIT event of the process events connector), or that execute
 * /bin/true first (an EXEC too) when asked; as fast as one CPU allows.
 *
 *   forkstorm SECONDS [exec]
 *
 * Prints "forks N" (how many children) on stdout at the end. Exit 1 when fork(2)
 * fails. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "exec") != 0)) {
		fprintf(stderr, "usage: forkstorm SECONDS [exec]\n");
		return 2;
	}
	double end = now_s() + atof(argv[1]);
	int exec = argc == 3;
	unsigned long n = 0;
	while (now_s() < end) {
		pid_t p = fork();
		if (p < 0) {
			perror("forkstorm: fork");
			return 1;
		}
		if (p == 0) {
			if (exec)
				execl("/bin/true", "true", (char *)NULL);
			_exit(0);
		}
		(void)waitpid(p, NULL, 0);
		n++;
	}
	printf("forks %lu\n", n);
	return 0;
}
