// SPDX-License-Identifier: GPL-2.0-or-later
/* A minimal real VMM for tests: creates a KVM VM with N vCPUs that halt, each on its
 * own thread, so kvmcg's discovery of non-QEMU hypervisors (Firecracker, crosvm...)
 * runs against the real kernel. Not a mock: the vCPUs are real KVM vCPUs blocked in
 * KVM_RUN.
 *
 *   mini-vmm [--names fc|none] N TRUTHFILE
 *
 * Writes "vcpu <index> <tid>" lines to TRUTHFILE once every vCPU runs, then sleeps
 * until killed. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int vm_fd;
static size_t run_size;
static int name_threads = 1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *truth;

struct vcpu {
	int index, fd;
};

static void die(const char *what)
{
	fprintf(stderr, "mini-vmm: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16];
	if (name_threads) {
		snprintf(name, sizeof(name), "fc_vcpu %d", v->index);
		prctl(PR_SET_NAME, name);
	}
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	struct kvm_sregs sregs;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	struct kvm_regs regs = {.rip = 0, .rflags = 2};
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");

	pthread_mutex_lock(&lock);
	fprintf(truth, "vcpu %d %ld\n", v->index, (long)syscall(SYS_gettid));
	fflush(truth);
	pthread_mutex_unlock(&lock);
	/* With the in-kernel irqchip, HLT blocks inside KVM_RUN: exactly the state an
	 * idle guest's vCPU is in. */
	for (;;)
		if (ioctl(v->fd, KVM_RUN, 0) < 0 && errno != EINTR)
			die("KVM_RUN");
	return NULL;
}

int main(int argc, char **argv)
{
	int argi = 1;
	if (argc > 2 && strcmp(argv[1], "--names") == 0) {
		name_threads = strcmp(argv[2], "none") != 0;
		argi = 3;
	}
	if (argc - argi != 2) {
		fprintf(stderr, "usage: mini-vmm [--names fc|none] N TRUTHFILE\n");
		return 2;
	}
	int n = atoi(argv[argi]);
	if (n < 1 || n > 64)
		return 2;
	truth = fopen(argv[argi + 1], "w");
	if (!truth)
		die("open truth file");

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm_fd < 0)
		die("KVM_CREATE_VM");
	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		die("KVM_SET_TSS_ADDR");
	if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		die("KVM_CREATE_IRQCHIP");
	run_size = (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);

	/* One page at guest address 0: cli; hlt; jmp back to hlt. */
	unsigned char *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap guest memory");
	memcpy(mem, "\xfa\xf4\xeb\xfd", 4);
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = 0x1000, .userspace_addr = (unsigned long)mem};
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");

	struct vcpu *vcpus = calloc((size_t)n, sizeof(*vcpus));
	for (int i = 0; i < n; i++) {
		vcpus[i].index = i;
		vcpus[i].fd = ioctl(vm_fd, KVM_CREATE_VCPU, i);
		if (vcpus[i].fd < 0)
			die("KVM_CREATE_VCPU");
		pthread_t t;
		if (pthread_create(&t, NULL, vcpu_thread, &vcpus[i]))
			die("pthread_create");
	}
	for (;;)
		pause();
}
