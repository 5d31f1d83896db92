# The project's single entry point. The README's two commands are
# `make run` and `make test`; everything they need is installed by `make deps`.
SHELL := /bin/bash
.DEFAULT_GOAL := kernel

CARGO      ?= /usr/bin/cargo
BUILD      := build
KERNEL_ELF := $(BUILD)/unikernel.elf
KTARGET    := x86_64-unknown-none
BUILD_STD  := -Zbuild-std=core,alloc,compiler_builtins -Zbuild-std-features=compiler-builtins-mem
CACHE      ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/xenbus-unikernel
PYTHON     ?= python3
ARGS       ?=
CFG        ?= xen-config/unikernel.cfg
# VERBOSE=1: Xen's, dom0's and every guest's console lines live (make run, test, test-guest, conformance).
VERBOSE    ?=
VERBOSE_FLAG := $(if $(filter-out 0,$(VERBOSE)),--verbose)


.PHONY: deps kernel run test test-host test-guest bindings dom0 clean conformance conformance-tools conformance-random conformance-check lint ring-corruptor fuzz tools test-programs sizes
.PHONY: kernel-min kernel-bench bench bench-tools bench-readme profile

deps:
	@tests/harness/install-deps.sh

kernel: deps
	@mkdir -p $(BUILD)
	$(CARGO) build -p unikernel --release --target $(KTARGET) $(BUILD_STD)
	@cp target/$(KTARGET)/release/unikernel $(KERNEL_ELF)
	@strip -o $(BUILD)/unikernel.stripped.elf $(KERNEL_ELF)
	@echo "kernel: $(KERNEL_ELF) $$(stat -c %s $(KERNEL_ELF)) bytes, stripped $$(stat -c %s $(BUILD)/unikernel.stripped.elf) bytes (loaded: $$(size -A $(KERNEL_ELF) | awk '/^\.(text|rodata|data|bss|note)/{s+=$$2} END{print s}') bytes, text+rodata+data+bss)"

# The kernel without the in-guest tests and the conformance runner, for size.
kernel-min: deps
	$(CARGO) build -p unikernel --release --target $(KTARGET) $(BUILD_STD) --no-default-features --target-dir target/min
	@cp target/min/$(KTARGET)/release/unikernel $(BUILD)/unikernel-min.elf
	@strip -o $(BUILD)/unikernel-min.stripped.elf $(BUILD)/unikernel-min.elf
	@echo "kernel-min: $(BUILD)/unikernel-min.elf stripped $$(stat -c %s $(BUILD)/unikernel-min.stripped.elf) bytes (loaded: $$(size -A $(BUILD)/unikernel-min.elf | awk '/^\.(text|rodata|data|bss|note)/{s+=$$2} END{print s}') bytes)"

# Image sizes with and without the optional parts (the in-guest tests, the
# programs support: ELF loader, built-in libc, programs= shell), written to
# build/sizes.txt. Each variant builds in its own target directory.
sizes: deps
	@mkdir -p $(BUILD)
	@echo "| variant | features | stripped bytes | loaded bytes |" > $(BUILD)/sizes.txt
	@echo "|---|---|---|---|" >> $(BUILD)/sizes.txt
	@for v in "full|default" "no-programs|in-guest-tests" "min+programs|programs" "min|"; do \
		name=$${v%%|*}; feat=$${v#*|}; \
		if [ "$$feat" = default ]; then args=""; else args="--no-default-features $${feat:+--features $$feat}"; fi; \
		$(CARGO) build -q -p unikernel --release --target $(KTARGET) $(BUILD_STD) $$args --target-dir target/size-$$name || exit 1; \
		elf=target/size-$$name/$(KTARGET)/release/unikernel; strip -o $(BUILD)/size-$$name.elf $$elf; \
		loaded=$$(size -A $$elf | awk '/^\.(text|rodata|data|bss|note)/{s+=$$2} END{print s}'); \
		echo "| $$name | $${feat:-none} | $$(stat -c %s $(BUILD)/size-$$name.elf) | $$loaded |" >> $(BUILD)/sizes.txt; \
	done
	@cat $(BUILD)/sizes.txt
# The image `make bench` runs: the kernel with the bench workload but
# without the in-guest tests and the lock-order checker (as a product
# would ship). It shares target/min with kernel-min (only the unikernel
# crate differs).
BENCH_ELF := $(BUILD)/unikernel-bench.elf
kernel-bench: deps
	$(CARGO) build -p unikernel --release --target $(KTARGET) $(BUILD_STD) --no-default-features --features bench --target-dir target/min
	@cp target/min/$(KTARGET)/release/unikernel $(BENCH_ELF)
	@echo "kernel-bench: $(BENCH_ELF) $$(stat -c %s $(BENCH_ELF)) bytes"

# rustfmt and clippy are Debian's (rustfmt-web, rust-web-clippy, matching
# rustc-web 1.96); rustup's proxies come first on PATH, so /usr/bin goes first.
# Every step runs; the target fails if any of them did. `make test` runs it
# first (one JUnit case, `lint`).
LINT_ENV := PATH=/usr/bin:$$PATH
lint: deps
	@rc=0; \
	echo "lint: cargo fmt --all --check"; \
	$(LINT_ENV) $(CARGO) fmt --all --check || rc=1; \
	echo "lint: clippy, host workspace (all targets)"; \
	$(LINT_ENV) $(CARGO) clippy --keep-going --workspace --exclude unikernel --all-targets -- -D warnings || rc=1; \
	echo "lint: clippy, kernel ($(KTARGET))"; \
	$(LINT_ENV) $(CARGO) clippy --keep-going -p unikernel --release --target $(KTARGET) $(BUILD_STD) -- -D warnings || rc=1; \
	echo "lint: clippy, kernel without the in-guest tests and programs (as make kernel-min)"; \
	$(LINT_ENV) $(CARGO) clippy --keep-going -p unikernel --release --no-default-features --target $(KTARGET) $(BUILD_STD) -- -D warnings || rc=1; \
	echo "lint: clippy, kernel with the in-guest tests, without programs"; \
	$(LINT_ENV) $(CARGO) clippy --keep-going -p unikernel --release --no-default-features --features in-guest-tests --target $(KTARGET) $(BUILD_STD) -- -D warnings || rc=1; \
	echo "lint: module import cycles inside each crate"; \
	$(PYTHON) tests/lint/modcycles.py . || rc=1; \
	if [ $$rc -eq 0 ]; then echo "lint: clean"; else echo "lint: FAILED (see above)"; fi; \
	exit $$rc

# The fuzzers, long: 10^7 steps of the xenbus node, 10^6 of the ring client,
# the VFS and the ELF loader (release builds; each prints its counts). `make
# test` runs the same drivers with small step counts inside the host tests.
FUZZ_NODE_STEPS ?= 10000000
FUZZ_STEPS ?= 1000000
fuzz: deps
	XENBUS_FUZZ_STEPS=$(FUZZ_NODE_STEPS) $(CARGO) test --release -p xenbus-node fuzz -- --nocapture
	XS_RING_FUZZ_STEPS=$(FUZZ_STEPS) $(CARGO) test --release -p xs-client --test ring_fuzz -- --nocapture
	VFS_FUZZ_STEPS=$(FUZZ_STEPS) $(CARGO) test --release -p vfs --test fuzz -- --nocapture
	ELF_FUZZ_STEPS=$(FUZZ_STEPS) $(CARGO) test --release -p elf-loader --test fuzz -- --nocapture

bindings:
	kernel/libs/xen-sys/regenerate.sh

dom0: deps
	@tests/harness/build-dom0.sh "$(CACHE)" "$(BUILD)/dom0"

# PROGRAMS='xenstore-write data/hello world; xenstore-read data/hello': run
# Debian's xenstore tools (or any command list, docs/programs.md) in the guest.
PROGRAMS ?=
export PROGRAMS
run: kernel dom0
	$(PYTHON) tests/harness/xenrun.py run --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --logs $(BUILD)/logs --args "$(ARGS)" --programs "$$PROGRAMS" $(VERBOSE_FLAG)

test-host: deps
	$(CARGO) test --workspace --exclude unikernel

# CHECKS=a,b: only those guest checks (names: tests/harness/test.py --list), no host tests, no conformance.
CHECKS ?=
# The fixed-seed batch of random differential scenarios `make test` runs with
# the corpus (docs/conformance.md); override with TEST_RANDOM_SEED/COUNT.
TEST_RANDOM_SEED  ?= 20261201
TEST_RANDOM_COUNT ?= 8
test: kernel dom0 conformance-tools ring-corruptor test-programs
	$(PYTHON) tests/harness/test.py --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD) \
		--lint "$(MAKE) --no-print-directory lint" --scenarios tests/conformance/scenarios --linux-runner $(LINUX_RUNNER) --compare target/release/xbcompare \
		--driver $(DRIVER) --random-seed $(TEST_RANDOM_SEED) --random-count $(TEST_RANDOM_COUNT) \
		--ring-corruptor $(RING_CORRUPTOR) --tools-runner $(TOOLS_RUNNER) $(VERBOSE_FLAG) $(if $(CHECKS),--only '$(CHECKS)')

# One guest running an in-guest selection, e.g. make test-guest TESTS='xenbus::*' [MEMORY=4] [XENSTORED=oxenstored]
TESTS ?= all
MEMORY ?=
XENSTORED ?= xenstored
test-guest: kernel dom0 ring-corruptor test-programs
	$(PYTHON) tests/harness/test.py --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD) --tests '$(TESTS)' \
		--ring-corruptor $(RING_CORRUPTOR) --xenstored $(XENSTORED) $(if $(MEMORY),--memory $(MEMORY)) $(VERBOSE_FLAG)

# dom0's xenstore ring corruptor (tests/harness/ring-corruptor): a static
# Linux program, stripped, put into each run's dom0 initramfs by the harness.
RING_CORRUPTOR := $(BUILD)/ring-corruptor
ring-corruptor: deps
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p ring-corruptor --target x86_64-unknown-linux-gnu
	@mkdir -p $(BUILD)
	@strip -o $(RING_CORRUPTOR) target/x86_64-unknown-linux-gnu/release/ring-corruptor

# Our xenbus node against Linux's, byte for byte (docs/conformance.md).
SCENARIOS ?= tests/conformance/scenarios
LINUX_RUNNER := target/x86_64-unknown-linux-gnu/release/xbconform
TOOLS_RUNNER := target/x86_64-unknown-linux-gnu/release/xbtools
DRIVER := target/x86_64-unknown-linux-gnu/release/xbdrive
conformance-tools: deps
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p xenbus-conformance-linux -p xenstore-tools-runner -p xenbus-conformance-driver --target x86_64-unknown-linux-gnu
	$(CARGO) build --release -p xenbus-conformance-compare -p xenbus-conformance-check

# LINUX_ONLY=1: run the Linux guest alone (to learn what Linux does first,
# before our node runs them); every expectation must hold.
conformance: kernel dom0 conformance-tools
	$(PYTHON) tests/harness/conformance.py --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD) \
		--scenarios $(SCENARIOS) --linux-runner $(LINUX_RUNNER) --compare target/release/xbcompare $(VERBOSE_FLAG) \
		$(if $(LINUX_ONLY),--linux-only)

# C programs of our own for the in-guest program tests (tests/programs), built
# as a user would build theirs: position-independent, against Debian's glibc
# headers and libxenstore (docs/programs.md).
TEST_PROGRAMS := $(patsubst tests/programs/%.c,$(BUILD)/programs/%,$(wildcard tests/programs/*.c))
PROG_CFLAGS := -fPIE -pie -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong
test-programs: $(TEST_PROGRAMS)
$(BUILD)/programs/%: tests/programs/%.c | deps
	@mkdir -p $(BUILD)/programs
	gcc $(PROG_CFLAGS) -o $@ $< -lxenstore
# crash.c: only the canary may catch its overflow.
$(BUILD)/programs/crash: tests/programs/crash.c | deps
	@mkdir -p $(BUILD)/programs
	gcc -fPIE -pie -O2 -U_FORTIFY_SOURCE -fstack-protector-all -o $@ $<

# Debian's xenstore tools in the unikernel and in a Linux domU, byte for byte (docs/programs.md).
tools: kernel dom0 conformance-tools
	$(PYTHON) tests/harness/tools.py --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD) \
		--tools-runner $(TOOLS_RUNNER) $(VERBOSE_FLAG)

# make bench (docs/bench.md): ours against a Linux PV domU in one nested
# boot; writes build/bench/results.json, report.md and chart.svg.
# BENCH_QUICK=1: one round with small counts (a smoke test, about 3 min).
# `make bench-readme` regenerates the README's measurement table from
# build/bench/results.json.
BENCH_RUNNER := $(BUILD)/xsbench
BENCH_DOM0 := $(BUILD)/xsbench-dom0
BENCH_QUICK ?=
# BENCH_ONLY=o-work,l-work: only those guests; BENCH_SPEC=...: the workload
# guests' spec (xs-bench grammar). For development; results are partial.
BENCH_ONLY ?=
BENCH_SPEC ?=
bench-tools: deps
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p xs-bench-linux -p xs-bench-dom0 --target x86_64-unknown-linux-gnu
	@mkdir -p $(BUILD)
	@strip -o $(BENCH_RUNNER) target/x86_64-unknown-linux-gnu/release/xsbench
	@strip -o $(BENCH_DOM0) target/x86_64-unknown-linux-gnu/release/xsbench-dom0

bench: kernel kernel-min kernel-bench dom0 bench-tools
	$(PYTHON) tests/harness/bench.py run --kernel $(BENCH_ELF) --full $(KERNEL_ELF) --min $(BUILD)/unikernel-min.elf \
		--cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD) --linux-runner $(BENCH_RUNNER) --dom0-tool $(BENCH_DOM0) \
		$(if $(BENCH_QUICK),--quick) $(if $(BENCH_ONLY),--only '$(BENCH_ONLY)') $(if $(BENCH_SPEC),--spec '$(BENCH_SPEC)') $(VERBOSE_FLAG)

# `make profile`: the sequential READ loop of `make bench` on our guest
# alone, under the tcgprof QEMU plugin (tests/tools/tcg-profile): where a
# request's guest CPU goes, per function, with the callers of
# PROFILE_WATCH. Output in build/profile/; docs/bench.md explains it.
PROFILE_SPEC ?= rounds:1,read:2000:1
PROFILE_WATCH ?= memcpy memset
profile: kernel kernel-min kernel-bench dom0 bench-tools
	@mkdir -p $(BUILD)/profile
	gcc -O2 -Wall -shared -fPIC -o $(BUILD)/profile/tcgprof.so tests/tools/tcg-profile/tcgprof.c
	XENRUN_QEMU_ARGS="-plugin $(BUILD)/profile/tcgprof.so,out=$(BUILD)/profile/tcgprof.txt$$($(PYTHON) tests/tools/tcg-profile/report.py --elf $(BENCH_ELF) --watch-args $(PROFILE_WATCH))" \
		$(PYTHON) tests/harness/bench.py run --kernel $(BENCH_ELF) --full $(KERNEL_ELF) --min $(BUILD)/unikernel-min.elf \
		--cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD)/profile --linux-runner $(BENCH_RUNNER) --dom0-tool $(BENCH_DOM0) \
		--only o-work-1 --spec '$(PROFILE_SPEC)' > $(BUILD)/profile/run.log
	$(PYTHON) tests/tools/tcg-profile/report.py --prof $(BUILD)/profile/tcgprof.txt --elf $(BENCH_ELF) | tee $(BUILD)/profile/report.txt

bench-readme:
	$(PYTHON) tests/harness/bench.py readme --results $(BUILD)/bench/results.json --readme README.md

# Random differential scenarios on both hosts in one boot; mismatches are
# shrunk into tests/conformance/found/. The nightly-sized run is COUNT=1000.
SEED ?= 1
COUNT ?= 100
FIRST ?= 0
SHRINK_BUDGET ?= 120
conformance-random: kernel dom0 conformance-tools
	$(PYTHON) tests/harness/conformance.py --random --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD) \
		--linux-runner $(LINUX_RUNNER) --driver $(DRIVER) --seed $(SEED) --count $(COUNT) --first $(FIRST) \
		--shrink-budget $(SHRINK_BUDGET)

# Host only: parse, rule check and simulated run of any scenario directory.
conformance-check:
	$(CARGO) build --release -p xenbus-conformance-check
	target/release/xbcheck $(SCENARIOS)

clean:
	rm -rf $(BUILD) target
