# cudaemu.mk: build rules of the emulated CUDA device (tests/cudaemu/README.md), included by
# the top-level Makefile. Everything goes under its own build directory, so nothing of the
# real (nvcc) build is linked into it; every object depends on the emulator's headers and on
# a stamp of the flags, so a change of either rebuilds what it affects.
#
# Inputs (set before the include; paths relative to the repository root):
#   EMU_LIB_SRC     C sources of the library, the CUDA backend's host files among them
#   EMU_CLI_SRC     C sources of the dln program
#   EMU_TEST_SRC    C sources of the Criterion suite
#   EMU_BENCH_SRC   C sources of the benchmarks (one program each; bench/*.h beside them)
#   EMU_REF_SRC     C sources of the host oracles the benchmarks link
#   EMU_KERNEL_SRC  the .cu kernel sources (compiled as C++ with cudaemu_kernel.h force-included)
#   EMU_KERNEL_INC  -I flags the kernels need (where launch.h and their headers are)
#   EMU_CFLAGS      C flags of the library, CLI and tests (the CUDA backend's -D and -I included)
#   EMU_HEADERS     headers every C object depends on
#   EMU_LDLIBS      libraries to link (BLAS, LAPACKE, libm)
#   EMU_PYTEST      a command running Python tests of the emulated dln (DLN_BIN, DLN_TEST_BACKEND=cuda
#                   set), or empty
#   BUILD, CUDA_HOME
# Targets: test-cuda-emu (the emulator's self-test selftest.cpp, then the whole suite with the
# device, the no-device tests without it, check-skips, the scripts' smoke test),
# test-cuda-emu-sanitize (ASan + UBSan + LSan), test-cuda-emu-tsan
# (ThreadSanitizer over the kernels in threads mode, through kernel_driver.cpp), and the
# binaries $(EMU_BUILD)/dln, $(EMU_BUILD)/dln_tests, $(EMU_BUILD)/bench/*. test-cuda-emu
# also runs every benchmark once on tiny shapes (bench_smoke.sh): their CUDA paths execute
# here, though their times on the emulator mean nothing.

CUDAEMU_DIR  := tests/cudaemu
EMU_BUILD    ?= $(BUILD)/emu
EMU_SAN      ?=
EMU_OPT      ?= -O2 -g
CXX          ?= g++
CUDAEMU_SRC  := $(wildcard $(CUDAEMU_DIR)/emu_*.cpp)
CUDAEMU_HDR  := $(wildcard $(CUDAEMU_DIR)/*.h)
CUDAEMU_CXXFLAGS = -std=c++17 $(EMU_OPT) -Wall -Wextra -I$(CUDA_HOME)/include -I$(CUDAEMU_DIR) $(EMU_KERNEL_INC) $(EMU_SAN)
EMU_KFLAGS    = -std=c++17 $(EMU_OPT) -Wall -Wextra -x c++ -include $(CUDAEMU_DIR)/cudaemu_kernel.h \
                -I$(CUDA_HOME)/include $(EMU_KERNEL_INC) $(EMU_SAN)
EMU_CCFLAGS   = $(EMU_CFLAGS) $(EMU_SAN)
EMU_HAVE_HDRS := $(wildcard $(CUDA_HOME)/include/cuda_runtime.h)

EMU_LIB_OBJ   = $(EMU_LIB_SRC:%.c=$(EMU_BUILD)/%.o) $(EMU_KERNEL_SRC:%.cu=$(EMU_BUILD)/%.cu.o)
EMU_CLI_OBJ   = $(EMU_CLI_SRC:%.c=$(EMU_BUILD)/%.o)
EMU_TEST_OBJ  = $(EMU_TEST_SRC:%.c=$(EMU_BUILD)/%.o)
EMU_REF_OBJ   = $(EMU_REF_SRC:%.c=$(EMU_BUILD)/%.o)
EMU_BENCH_BIN = $(EMU_BENCH_SRC:bench/%.c=$(EMU_BUILD)/bench/%)
CUDAEMU_OBJ   = $(CUDAEMU_SRC:%.cpp=$(EMU_BUILD)/%.o)
EMU_FLAGS     = $(EMU_BUILD)/flags.stamp

.PHONY: test-cuda-emu test-cuda-emu-sanitize test-cuda-emu-tsan cuda-emu-build FORCE

# The flags in effect, rewritten only when they change: a changed flag rebuilds everything.
$(EMU_FLAGS): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CC) $(EMU_CCFLAGS) | $(CXX) $(CUDAEMU_CXXFLAGS) | $(EMU_KFLAGS) | $(EMU_LDLIBS)' > $@.new
	@cmp -s $@.new $@ 2>/dev/null && rm -f $@.new || mv $@.new $@

$(EMU_BUILD)/%.o: %.c $(EMU_HEADERS) $(EMU_FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(EMU_CCFLAGS) -c $< -o $@

$(EMU_BUILD)/%.cu.o: %.cu $(CUDAEMU_HDR) $(wildcard $(dir $(firstword $(EMU_KERNEL_SRC)))*.h) $(EMU_FLAGS)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_KFLAGS) -c $< -o $@

$(EMU_BUILD)/$(CUDAEMU_DIR)/%.o: $(CUDAEMU_DIR)/%.cpp $(CUDAEMU_HDR) $(EMU_FLAGS)
	@mkdir -p $(dir $@)
	$(CXX) $(CUDAEMU_CXXFLAGS) -c $< -o $@

$(EMU_BUILD)/libcudaemu.a: $(CUDAEMU_OBJ)
	rm -f $@ && ar rcs $@ $^

$(EMU_BUILD)/libdln.a: $(EMU_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

EMU_LINK = $(CXX) $(EMU_OPT) $(EMU_SAN)

$(EMU_BUILD)/dln: $(EMU_CLI_OBJ) $(EMU_BUILD)/libdln.a $(EMU_BUILD)/libcudaemu.a
	$(EMU_LINK) $(EMU_CLI_OBJ) $(EMU_BUILD)/libdln.a $(EMU_BUILD)/libcudaemu.a $(EMU_LDLIBS) -lpthread -o $@

$(EMU_BUILD)/dln_tests: $(EMU_TEST_OBJ) $(EMU_BUILD)/libdln.a $(EMU_BUILD)/libcudaemu.a
	$(EMU_LINK) $(EMU_TEST_OBJ) $(EMU_BUILD)/libdln.a $(EMU_BUILD)/libcudaemu.a $(EMU_LDLIBS) -lcriterion -lpthread -o $@

$(EMU_BUILD)/bench/%: bench/%.c $(wildcard bench/*.h) $(EMU_HEADERS) $(EMU_FLAGS) $(EMU_REF_OBJ) \
                     $(EMU_BUILD)/libdln.a $(EMU_BUILD)/libcudaemu.a
	@mkdir -p $(dir $@)
	$(CC) $(EMU_CCFLAGS) -Ibench -c $< -o $@.o
	$(EMU_LINK) $@.o $(EMU_REF_OBJ) $(EMU_BUILD)/libdln.a $(EMU_BUILD)/libcudaemu.a $(EMU_LDLIBS) -lpthread -o $@

$(EMU_BUILD)/selftest.o: $(CUDAEMU_DIR)/selftest.cpp $(CUDAEMU_HDR) $(EMU_FLAGS)
	$(CXX) $(EMU_KFLAGS) -c $< -o $@

$(EMU_BUILD)/selftest: $(EMU_BUILD)/selftest.o $(EMU_BUILD)/libcudaemu.a
	$(EMU_LINK) $^ $(EMU_LDLIBS) -lpthread -o $@

$(EMU_BUILD)/kernel_driver: $(EMU_BUILD)/$(CUDAEMU_DIR)/kernel_driver.o $(EMU_KERNEL_SRC:%.cu=$(EMU_BUILD)/%.cu.o) \
                            $(EMU_BUILD)/libcudaemu.a
	$(EMU_LINK) $^ $(EMU_LDLIBS) -lpthread -o $@

cuda-emu-build: $(EMU_BUILD)/dln $(EMU_BUILD)/dln_tests $(EMU_BUILD)/selftest $(EMU_BENCH_BIN)

# One seed for the whole run, printed so that a failure can be replayed:
#   make test-cuda-emu CUDAEMU_SEED=<seed>
ifeq ($(origin CUDAEMU_SEED),undefined)
CUDAEMU_SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
# The tests that need "no device": run a second time with CUDAEMU_NO_DEVICE=1.
EMU_NODEV_FILTER ?= @(cuda/no_device*|cli/backend_cuda_without_device)
# GEMM results jittered by +-1 ulp unless CUDAEMU_GEMM_JITTER=0: tolerances must absorb
# rounding that differs from OpenBLAS's, as cuBLAS's does.
CUDAEMU_GEMM_JITTER ?= 1
EMU_RUN = DLN_BIN=$(EMU_BUILD)/dln CUDAEMU_SEED=$(CUDAEMU_SEED) CUDAEMU_GEMM_JITTER=$(CUDAEMU_GEMM_JITTER) \
          DLN_TEST_EXPECT_DEVICE=emulated

ifneq ($(EMU_HAVE_HDRS),)
test-cuda-emu: cuda-emu-build
	@echo "cudaemu: emulated CUDA device, seed $(CUDAEMU_SEED), GEMM jitter $(CUDAEMU_GEMM_JITTER) (replay: make $@ CUDAEMU_SEED=$(CUDAEMU_SEED))"
	CUDAEMU_SEED=$(CUDAEMU_SEED) CUDAEMU_GEMM_JITTER=0 $(EMU_BUILD)/selftest 2>$(EMU_BUILD)/selftest.err || { cat $(EMU_BUILD)/selftest.err; exit 1; }
	$(EMU_RUN) $(EMU_BUILD)/dln_tests --tap=$(EMU_BUILD)/device.tap $(EMU_TEST_ARGS)
	$(EMU_RUN) CUDAEMU_NO_DEVICE=1 $(EMU_BUILD)/dln_tests --filter='$(EMU_NODEV_FILTER)' --tap=$(EMU_BUILD)/nodevice.tap
	$(CUDAEMU_DIR)/check-skips $(EMU_BUILD)/device.tap $(EMU_BUILD)/nodevice.tap
	$(EMU_RUN) tests/scripts_smoke.sh
	$(if $(EMU_PYTEST),$(EMU_RUN) DLN_TEST_BACKEND=cuda $(EMU_PYTEST))
	$(EMU_RUN) $(CUDAEMU_DIR)/bench_smoke.sh $(EMU_BUILD)
else
test-cuda-emu:
	@echo "cudaemu: skipped: no CUDA headers under $(CUDA_HOME)/include (the emulator compiles against them)"
endif

EMU_SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
test-cuda-emu-sanitize:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MAKE) --no-print-directory test-cuda-emu EMU_BUILD=$(BUILD)/emu-san EMU_SAN="$(EMU_SAN_FLAGS)" \
	    EMU_OPT="-O1 -g" CUDAEMU_SEED=$(CUDAEMU_SEED)

test-cuda-emu-tsan:
	$(MAKE) --no-print-directory $(BUILD)/emu-tsan/kernel_driver EMU_BUILD=$(BUILD)/emu-tsan \
	    EMU_SAN="-fsanitize=thread" EMU_OPT="-O1 -g"
	CUDAEMU_THREADS=threads CUDAEMU_SEED=$(CUDAEMU_SEED) TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
	    $(BUILD)/emu-tsan/kernel_driver

FORCE:
