// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmm/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/util.h"

int pidfile_parse(const char *buf, pid_t *ret)
{
	size_t len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len == 0 || len > 10)
		return -EBADMSG;
	char num[12];
	memcpy(num, buf, len);
	num[len] = '\0';
	return parse_pid(num, ret) < 0 ? -EBADMSG : 0;
}

int pidfile_read_locked(const char *path, pid_t *ret, pid_t *ret_holder)
{
	/* O_NONBLOCK: a FIFO must be refused below, not wait for a writer here. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;

	char buf[32];
	ssize_t n;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	pid_t pid;
	int r = pidfile_parse(buf, &pid);
	if (r < 0)
		return r;

	/* F_GETLK only tests: it needs no write access and takes no lock. */
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_GETLK, &fl) < 0)
		return -errno;
	if (fl.l_type == F_UNLCK)
		return -ESTALE;
	/* l_pid is 0 when the holder lives in another pid namespace: trust the file then. */
	if (fl.l_pid > 0 && fl.l_pid != pid) {
		if (ret_holder)
			*ret_holder = fl.l_pid;
		return -EUCLEAN;
	}
	*ret = pid;
	return 0;
}
