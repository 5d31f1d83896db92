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


.PHONY: kernel-min
.PHONY: deps kernel run test test-host test-guest bindings dom0 clean conformance conformance-tools conformance-random conformance-check

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

bindings:
	kernel/libs/xen-sys/regenerate.sh

dom0: deps
	@tests/harness/build-dom0.sh "$(CACHE)" "$(BUILD)/dom0"

run: kernel dom0
	$(PYTHON) tests/harness/xenrun.py run --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --logs $(BUILD)/logs --args "$(ARGS)"

test-host: deps
	$(CARGO) test --workspace --exclude unikernel

# The fixed-seed batch of random differential scenarios `make test` runs with
# the corpus (docs/conformance.md); override with TEST_RANDOM_SEED/COUNT.
TEST_RANDOM_SEED  ?= 20261201
TEST_RANDOM_COUNT ?= 8
test: kernel dom0 conformance-tools
	$(PYTHON) tests/harness/test.py --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD) \
		--scenarios tests/conformance/scenarios --linux-runner $(LINUX_RUNNER) --compare target/release/xbcompare \
		--driver $(DRIVER) --random-seed $(TEST_RANDOM_SEED) --random-count $(TEST_RANDOM_COUNT)

# One guest running an in-guest selection, e.g. make test-guest TESTS='xenbus::*'
TESTS ?= all
test-guest: kernel dom0
	$(PYTHON) tests/harness/test.py --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD) --tests '$(TESTS)'

# Our xenbus node against Linux's, byte for byte (docs/conformance.md).
SCENARIOS ?= tests/conformance/scenarios
LINUX_RUNNER := target/x86_64-unknown-linux-gnu/release/xbconform
DRIVER := target/x86_64-unknown-linux-gnu/release/xbdrive
conformance-tools: deps
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p xenbus-conformance-linux -p xenbus-conformance-driver --target x86_64-unknown-linux-gnu
	$(CARGO) build --release -p xenbus-conformance-compare -p xenbus-conformance-check

# LINUX_ONLY=1: run the Linux guest alone (scenarios our node cannot run yet,
# e.g. SCENARIOS=tests/conformance/suspend); every expectation must hold.
conformance: kernel dom0 conformance-tools
	$(PYTHON) tests/harness/conformance.py --kernel $(KERNEL_ELF) --cfg $(CFG) --dom0 $(BUILD)/dom0 --build $(BUILD) \
		--scenarios $(SCENARIOS) --linux-runner $(LINUX_RUNNER) --compare target/release/xbcompare \
		$(if $(LINUX_ONLY),--linux-only)

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
