# kvmcg: pin and tune QEMU/KVM VMs through cgroup v2 and the scheduler.
#
#   make              build $(BUILD)/kvmcg
#   make check        install test dependencies, build, run every test suite
#   make demo         start a throwaway QEMU and show what kvmcg sees
#   make SANITIZE=1   the same with ASan+UBSan (objects in build/asan)
#   make install      PREFIX=/usr/local DESTDIR= [INIT=sysvinit|openrc]

VERSION    := 0.1.0
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
DOCDIR     ?= $(PREFIX)/share/doc/kvmcg
# kvmcg watch as a service (README.md, "Running kvmcg watch as a service"), where
# Debian puts them whatever PREFIX is: the systemd unit, and one init script in
# /etc/init.d, Debian's LSB one (sysvinit) unless INIT=openrc. Both scripts are
# /etc/init.d/kvmcg-watch on Debian, so only one is installed.
SYSTEMDUNITDIR ?= /lib/systemd/system
INITDIR    ?= /etc/init.d
OPENRCDIR  ?= /etc/init.d
INIT       ?= sysvinit
# Where kvmcg apply and kvmcg watch read policies unless told otherwise (compiled
# in: the same whatever PREFIX is). make install makes it, empty, so that the
# service starts on a fresh install.
POLICYDIR  := /etc/kvmcg/policies
DESTDIR    ?=
CC         ?= gcc
PKG_CONFIG ?= pkg-config
INSTALL    ?= install

ifeq ($(SANITIZE),1)
BUILD      ?= build/asan
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD      ?= build
SAN_FLAGS  :=
endif

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
            -Wformat-truncation=1 -Wpointer-arith -Wcast-align -Wwrite-strings -Wundef \
            -Wmissing-declarations -Wvla -Wnull-dereference -Wimplicit-fallthrough -Wjump-misses-init \
            -Werror=implicit-function-declaration -Werror=return-type
CPPFLAGS += -Isrc -D_GNU_SOURCE -DKVMCG_VERSION='"$(VERSION)"'
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 $(WARNINGS) -fstack-protector-strong -D_FORTIFY_SOURCE=2 -pthread $(SAN_FLAGS) -MMD -MP
# -pthread: list and apply talk to every VM's monitor at once (discover.c)
LDFLAGS  += -pthread $(SAN_FLAGS)

# json-c, libsmartcols and libmnl are required; pkg-config may be missing before `make deps`,
# so fall back.
JSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags json-c 2>/dev/null)
JSON_LIBS   := $(or $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null),-ljson-c)
SCOLS_CFLAGS := $(or $(shell $(PKG_CONFIG) --cflags smartcols 2>/dev/null),-I/usr/include/libsmartcols)
SCOLS_LIBS   := $(or $(shell $(PKG_CONFIG) --libs smartcols 2>/dev/null),-lsmartcols)
# libmnl: rtnetlink (kernel/rtnl.c)
MNL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libmnl 2>/dev/null)
MNL_LIBS   := $(or $(shell $(PKG_CONFIG) --libs libmnl 2>/dev/null),-lmnl)
CRITERION_LIBS := $(or $(shell $(PKG_CONFIG) --libs criterion 2>/dev/null),-lcriterion)
CPPFLAGS += $(JSON_CFLAGS) $(SCOLS_CFLAGS) $(MNL_CFLAGS)
LIBS     := $(JSON_LIBS) $(SCOLS_LIBS) $(MNL_LIBS)

ifneq ($(V),1)
Q := @
E := @echo
else
Q :=
E := @true
endif

# src/<layer>/*.c; src/README.md says what each layer is. hooks.c is compiled twice:
# as no-ops into the library, with the fault hooks only into the test build.
LIB_SRCS := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/cli/main.o
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/obj/unit/%.o)

.PHONY: all deps check check-unit check-host check-guest check-guest-6.12 guest-kernels check-lint asan-test-build check-sanitize check-stress demo bench install install-service uninstall deb clean

all: $(BUILD)/kvmcg

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(E) "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(E) "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -DFIXTURES='"$(CURDIR)/tests/fixtures"' $(CFLAGS) -c -o $@ $<

$(BUILD)/libkvmcg.a: $(LIB_OBJS)
	$(E) "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/kvmcg: $(MAIN_OBJ) $(BUILD)/libkvmcg.a
	$(E) "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The test build: the same program with the executor's fault hooks (src/hooks.c,
# tests/README.md). Never installed.
$(BUILD)/obj/hooks-test.o: src/exec/hooks.c
	@mkdir -p $(dir $@)
	$(E) "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -DKVMCG_TEST_HOOKS $(CFLAGS) -c -o $@ $<

$(BUILD)/kvmcg-test: $(MAIN_OBJ) $(BUILD)/obj/hooks-test.o $(BUILD)/libkvmcg.a
	$(E) "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# A minimal real VMM (not QEMU) that integration tests discover.
$(BUILD)/mini-vmm: tests/integration/mini-vmm.c
	$(E) "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $<

# Listens on the process events connector while a child forks, names a thread and
# exits (t-proc-events.sh).
$(BUILD)/procev-probe: tests/integration/procev-probe.c $(BUILD)/libkvmcg.a
	$(E) "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Resolves paths to block devices through kernel/blockdev.c (t-blockdev.sh).
$(BUILD)/blockdev-probe: tests/integration/blockdev-probe.c $(BUILD)/libkvmcg.a
	$(E) "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Links, qdiscs, classes and filters through kernel/rtnl.c in the network namespace
# of a process that holds a tap (t-rtnl.sh).
$(BUILD)/rtnl-probe: tests/integration/rtnl-probe.c $(BUILD)/libkvmcg.a
	$(E) "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/unit-tests: $(UNIT_OBJS) $(BUILD)/libkvmcg.a
	$(E) "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CRITERION_LIBS)

# Installs what building and testing need (Debian/Ubuntu, as root); does nothing
# when everything is there.
deps:
	$(Q)contrib/install-deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/kvmcg-test $(BUILD)/unit-tests $(BUILD)/mini-vmm $(BUILD)/procev-probe $(BUILD)/blockdev-probe $(BUILD)/rtnl-probe
	$(Q)KVMCG_BUILD_DIR=$(CURDIR)/$(BUILD) tests/run-all.sh

# The layering of src/ and the length of its functions (tests/lint/), as TAP.
check-lint:
	$(Q)tests/lint/layers.sh && tests/lint/long-functions.sh

check-unit: $(BUILD)/unit-tests
	$(Q)$(BUILD)/unit-tests

check-host: all $(BUILD)/kvmcg-test $(BUILD)/mini-vmm $(BUILD)/procev-probe $(BUILD)/blockdev-probe $(BUILD)/rtnl-probe
	$(Q)KVMCG_BUILD_DIR=$(CURDIR)/$(BUILD) tests/integration/run.sh

check-guest: all $(BUILD)/kvmcg-test $(BUILD)/mini-vmm $(BUILD)/procev-probe $(BUILD)/blockdev-probe $(BUILD)/rtnl-probe
	$(Q)KVMCG_BUILD_DIR=$(CURDIR)/$(BUILD) KVMCG_GUEST_KERNEL=6.1 tests/guest/run.sh

# The second guest kernel, Debian's 6.12 from bookworm-backports: downloaded and
# unpacked into $(BUILD)/guest/kernel-6.12 (never installed; tests/guest/README.md).
# `make check` runs part of the suite on it; check-guest-6.12 runs all of it.
guest-kernels:
	$(Q)KVMCG_BUILD_DIR=$(CURDIR)/$(BUILD) tests/guest/fetch-kernel.sh 6.1
	$(Q)KVMCG_BUILD_DIR=$(CURDIR)/$(BUILD) tests/guest/fetch-kernel.sh 6.12

check-guest-6.12: all $(BUILD)/kvmcg-test $(BUILD)/mini-vmm $(BUILD)/procev-probe $(BUILD)/blockdev-probe $(BUILD)/rtnl-probe
	$(Q)KVMCG_BUILD_DIR=$(CURDIR)/$(BUILD) KVMCG_GUEST_KERNEL=6.12 tests/guest/run.sh

# The host's integration tests under ASan+UBSan (build/asan): CI runs them as part of
# make check (KVMCG_CHECK_SANITIZE=1, .ci/run); a plain make check leaves them out to
# stay within half an hour, and runs the unit tests under ASan.
# ASAN_TEST_ENV: how a sanitizer run of the integration tests reports (leaks checked,
# the first error fatal), here and in tests/run-all.sh through this target.
ASAN_TEST_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		 KVMCG_BUILD_DIR=$(CURDIR)/build/asan
asan-test-build:
	$(Q)$(MAKE) --no-print-directory -s SANITIZE=1 all build/asan/kvmcg-test build/asan/mini-vmm build/asan/procev-probe build/asan/blockdev-probe build/asan/rtnl-probe

check-sanitize: asan-test-build
	$(Q)$(ASAN_TEST_ENV) tests/integration/run.sh

# Long runs kept out of make check: kvmcg watch through 1000 VM starts and stops
# under ASan+UBSan (its fds, RSS, cgroups and records counted before and after; LSan
# checks the daemon at its exit).
check-stress: asan-test-build
	$(Q)$(ASAN_TEST_ENV) KVMCG_TEST_WATCH_CYCLES=1000 tests/integration/run.sh tests/integration/t-watch.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)KVMCG=$(CURDIR)/$(BUILD)/kvmcg contrib/demo.sh

# The bench's yardstick and timer (tests/bench/README.md): plain C, libc only, never
# with sanitizers, so that the floor stays the floor.
$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(E) "  CC      $@"
	$(Q)$(CC) -O2 -g -std=c11 $(WARNINGS) -o $@ $<

# As root; writes BENCHMARKS.md. First kvmcg against the syscall floor, qemu-affinity,
# and list/apply on many QEMUs, interleaved, with one GOAL line per goal
# (floor-bench.sh); then pin/unpin/show on 2, 16, 64 vCPUs against a taskset loop
# (pin-bench.sh; BENCH_SWEEP=0 leaves it out). Between them, NUMA: moving a VM's
# memory against migratepages in the test guest, numastat and topology on 20 VMs
# (numa-bench.sh). Then kvmcg run against starting QEMU and pinning it after, on the
# host and, bound strict, in the test guest (run-bench.sh). Then kvmcg watch: its
# reaction to a starting VM, its CPU idle and under a fork storm (watch-bench.sh).
BENCH_SWEEP ?= 1
bench: all $(BUILD)/bench/floor $(BUILD)/bench/timeit $(BUILD)/bench/forkstorm $(BUILD)/procev-probe
	$(Q)KVMCG=$(CURDIR)/$(BUILD)/kvmcg FLOOR=$(CURDIR)/$(BUILD)/bench/floor \
		TIMEIT=$(CURDIR)/$(BUILD)/bench/timeit tests/bench/floor-bench.sh
	$(Q)KVMCG=$(CURDIR)/$(BUILD)/kvmcg TIMEIT=$(CURDIR)/$(BUILD)/bench/timeit KVMCG_BUILD_DIR=$(CURDIR)/$(BUILD) \
		tests/bench/numa-bench.sh
	$(Q)KVMCG=$(CURDIR)/$(BUILD)/kvmcg TIMEIT=$(CURDIR)/$(BUILD)/bench/timeit KVMCG_BUILD_DIR=$(CURDIR)/$(BUILD) \
		tests/bench/run-bench.sh
	$(Q)KVMCG=$(CURDIR)/$(BUILD)/kvmcg PROBE=$(CURDIR)/$(BUILD)/procev-probe STORM=$(CURDIR)/$(BUILD)/bench/forkstorm tests/bench/watch-bench.sh
	$(Q)KVMCG=$(CURDIR)/$(BUILD)/kvmcg TIMEIT=$(CURDIR)/$(BUILD)/bench/timeit tests/bench/net-bench.sh
	$(Q)if [ "$(BENCH_SWEEP)" != 0 ]; then KVMCG=$(CURDIR)/$(BUILD)/kvmcg tests/bench/pin-bench.sh; fi

install: all install-service
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0755 $(BUILD)/kvmcg $(DESTDIR)$(SBINDIR)/kvmcg
	$(INSTALL) -m 0644 man/kvmcg.8 $(DESTDIR)$(MANDIR)/man8/kvmcg.8
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0644 man/kvmcg.policy.5 $(DESTDIR)$(MANDIR)/man5/kvmcg.policy.5
	$(INSTALL) -m 0644 policies/*.policy $(DESTDIR)$(DOCDIR)/examples/
	$(INSTALL) -d $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 0644 contrib/bash-completion/kvmcg $(DESTDIR)$(BASHCOMPDIR)/kvmcg
	$(INSTALL) -d $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(INSTALL) -m 0644 contrib/zsh/_kvmcg $(DESTDIR)$(ZSHCOMPDIR)/_kvmcg
	$(INSTALL) -m 0644 contrib/fish/kvmcg.fish $(DESTDIR)$(FISHCOMPDIR)/kvmcg.fish
	$(INSTALL) -d -m 0755 $(DESTDIR)$(POLICYDIR)

# The service files alone (no build needed): the unit, and the init script INIT
# names (sysvinit, the default, or openrc). The source files name /usr/sbin/kvmcg
# (PREFIX=/usr, as a Debian package would); the copies installed name
# $(SBINDIR)/kvmcg on the one line that runs it (ExecStart=, DAEMON=, command=).
SERVICE_SED := sed -e 's,^\(ExecStart=\|DAEMON=\|command=\)/usr/sbin/kvmcg\( \|$$\),\1$(SBINDIR)/kvmcg\2,'

install-service:
	$(Q)case "$(INIT)" in sysvinit|openrc) ;; *) echo "INIT=$(INIT): sysvinit or openrc" >&2; exit 2 ;; esac
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR)
	$(SERVICE_SED) contrib/systemd/kvmcg-watch.service >$(DESTDIR)$(SYSTEMDUNITDIR)/kvmcg-watch.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/kvmcg-watch.service
ifeq ($(INIT),openrc)
	$(INSTALL) -d $(DESTDIR)$(OPENRCDIR)
	$(SERVICE_SED) contrib/openrc/kvmcg-watch >$(DESTDIR)$(OPENRCDIR)/kvmcg-watch
	chmod 0755 $(DESTDIR)$(OPENRCDIR)/kvmcg-watch
else
	$(INSTALL) -d $(DESTDIR)$(INITDIR)
	$(SERVICE_SED) contrib/sysvinit/kvmcg-watch >$(DESTDIR)$(INITDIR)/kvmcg-watch
	chmod 0755 $(DESTDIR)$(INITDIR)/kvmcg-watch
endif

# Removes the init script whichever INIT installed it.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/kvmcg $(DESTDIR)$(MANDIR)/man8/kvmcg.8 \
		$(DESTDIR)$(MANDIR)/man5/kvmcg.policy.5 $(DESTDIR)$(BASHCOMPDIR)/kvmcg \
		$(DESTDIR)$(ZSHCOMPDIR)/_kvmcg $(DESTDIR)$(FISHCOMPDIR)/kvmcg.fish
	rm -rf $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/kvmcg-watch.service $(DESTDIR)$(INITDIR)/kvmcg-watch \
		$(DESTDIR)$(OPENRCDIR)/kvmcg-watch
	@# the policy directory goes only when empty: the policies are the admin's
	rmdir $(DESTDIR)$(POLICYDIR) $(DESTDIR)$(dir $(POLICYDIR)) 2>/dev/null || true

# The Debian package (debian/; README.md, "Debian package"). dpkg-buildpackage
# writes into debian/ and beside the tree it builds, so it builds a copy of the
# working tree's files as git sees them (tracked ones with their uncommitted changes,
# and new ones .gitignore does not name; with no git, every file but build/ and
# .git) in $(BUILD)/deb/kvmcg-$(VERSION), and the .deb, .buildinfo and .changes land
# in $(BUILD)/deb/. Nothing of this make's command line (BUILD=, SANITIZE=, -j)
# reaches the package's own make.
DEB_TREE := $(abspath $(BUILD))/deb/kvmcg-$(VERSION)
deb:
	$(Q)rm -rf $(dir $(DEB_TREE)) && mkdir -p $(DEB_TREE)
	$(Q)if git -C $(CURDIR) rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		cd $(CURDIR) && git ls-files -z --cached --others --exclude-standard | \
		xargs -0 sh -c 'for f; do if [ -e "$$f" ] || [ -L "$$f" ]; then printf "%s\0" "$$f"; fi; done' sh | \
		xargs -0 -r cp -P --preserve=mode,timestamps --parents -t $(DEB_TREE); \
	else \
		tar -C $(CURDIR) --exclude=./build --exclude=./.git -cf - . | tar -C $(DEB_TREE) -xf -; \
	fi
	$(Q)cd $(DEB_TREE) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -us -uc -b -J
	$(E) "  DEB     $$(ls $(dir $(DEB_TREE))kvmcg_*.deb)"

# libFuzzer targets, one per input kvmcg parses (tests/fuzz/README.md): the policy
# file, QMP replies, QEMU command lines (as /proc shows them, and as kvmcg run is
# given them), /proc text and the undo record. `make fuzz`
# runs each for FUZZ_SECONDS, on a copy of the seeds in tests/fuzz/corpus-NAME
# (build/fuzz/corpus-NAME; crashes go to build/fuzz/artifacts/NAME), prints one line
# per target and "N passed, N failed, 0 skipped"; `make check-fuzz` runs each for
# FUZZ_CHECK_SECONDS with UBSan fatal and only the summary lines. FUZZ_TARGETS picks
# some: make fuzz FUZZ_TARGETS="qmp proc". Needs clang and its fuzzer runtime
# (Debian: clang, libclang-rt-14-dev).
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 10
FUZZ_CC      ?= clang
FUZZ_UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=0
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -g -O1 -fno-omit-frame-pointer -pthread
FUZZ_TARGETS ?= policy qmp cmdline launch proc record memmap
# Each target is linked with the layers its parsers need, and nothing else.
FUZZ_BASIC        := $(wildcard src/basic/*.c)
FUZZ_SRCS_policy  := src/tune/policy.c src/tune/tune.c src/kernel/sched.c $(FUZZ_BASIC)
FUZZ_SRCS_qmp     := src/vmm/qmp.c src/basic/util.c
FUZZ_SRCS_cmdline := src/vmm/qemu-argv.c src/kernel/procfs.c $(FUZZ_BASIC)
FUZZ_SRCS_launch  := src/vmm/qemu-launch.c src/vmm/qemu-argv.c src/kernel/procfs.c $(FUZZ_BASIC)
# classify_thread_name() is in classify-names.c, vm_exe_evidence() in vm.c (the VM
# model), which bring the thread list, the QMP client and the argv parser along.
FUZZ_SRCS_proc    := src/vmm/vm.c src/vmm/threads.c src/vmm/classify-names.c src/vmm/classify-qmp.c src/vmm/disks.c src/vmm/nics.c \
		     src/vmm/classify-kvmfd.c src/vmm/qmp.c src/vmm/qemu-argv.c src/kernel/procfs.c \
		     src/kernel/cgroupfs.c src/kernel/affinity.c $(FUZZ_BASIC)
FUZZ_SRCS_record  := $(wildcard src/state/*.c) src/plan/record.c src/plan/layout.c src/tune/tune.c \
		     src/kernel/cgroupfs.c src/kernel/sched.c src/kernel/procfs.c $(FUZZ_BASIC)
FUZZ_SRCS_memmap  := src/kernel/memmap.c src/basic/util.c
# Longest input: qmp's goes past one 64 KiB read of qmp.c.
FUZZ_MAXLEN_policy  := 8192
FUZZ_MAXLEN_qmp     := 81920
FUZZ_MAXLEN_cmdline := 8192
FUZZ_MAXLEN_launch  := 8192
FUZZ_MAXLEN_proc    := 4096
FUZZ_MAXLEN_record  := 16384
FUZZ_MAXLEN_memmap  := 16384

.PHONY: fuzz check-fuzz fuzz-build

define FUZZ_TARGET_RULE
build/fuzz/fuzz-$(1): tests/fuzz/fuzz-$(1).c $$(FUZZ_SRCS_$(1)) $$(wildcard src/*/*.h)
	@mkdir -p $$(dir $$@)
	$$(E) "  CC      $$@"
	$$(Q)$$(FUZZ_CC) $$(CPPFLAGS) -std=c11 $$(FUZZ_FLAGS) -o $$@ $$< $$(FUZZ_SRCS_$(1)) $$(LIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_TARGET_RULE,$(t))))

fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/fuzz-%)

fuzz: fuzz-build
	$(Q)FUZZ_UBSAN_OPTIONS=$(FUZZ_UBSAN_OPTIONS) tests/fuzz/run.sh $(FUZZ_SECONDS) \
		$(foreach t,$(FUZZ_TARGETS),$(t):$(FUZZ_MAXLEN_$(t)))

check-fuzz: fuzz-build
	$(Q)FUZZ_UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/fuzz/run.sh -q $(FUZZ_CHECK_SECONDS) \
		$(foreach t,$(FUZZ_TARGETS),$(t):$(FUZZ_MAXLEN_$(t)))

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_OBJS:.o=.d) $(BUILD)/obj/hooks-test.d
