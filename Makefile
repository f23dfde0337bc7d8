# Makefile for dln. The folders are the layers; this file follows them:
#   src/core src/data src/backends{,/cpu} src/model src/solver src/trainer src/diagnostics
#       -> build/libdln.a (the library; public headers in include/dln/) and build/libdln.so
#          (the same objects, position-independent, for the Python package in python/)
#   src/backends/cuda + kernels/*.cu (the CUDA kernels) -> into libdln.a whenever nvcc is found
#   src/oracle  -> build/libdln_oracle.a (host oracles, linked by tests and benchmarks only)
#   src/cli        -> build/dln (the program; public headers only)
#   tests/, bench/ -> build/dln_tests, build/bench/* (public headers + src/oracle)
# `make` builds build/dln and build/libdln.so; `make test` builds and runs the suite, the
# Python package's tests (python/tests, pytest; SKIP_PYTHON=1 leaves them out), then the
# same suite against the emulated CUDA device (tests/cudaemu; SKIP_CUDA_EMU=1 leaves it
# out); `make bench` the benchmarks; `make test-sanitize` the suite under ASan + UBSan +
# LSan; `make fuzz` the .npy fuzzer (clang); `make test-save-kill` 50 SIGKILLs during --save
# (tests/save_kill.sh, about 3 minutes); `make test-threads-tsan` threaded batches under TSan.

CC       ?= gcc
CUDA_HOME ?= /usr/local/cuda
NVCC     := $(wildcard $(CUDA_HOME)/bin/nvcc)
BUILD    ?= build

CFLAGS   ?= -O2 -g
# -fPIC: the library's objects go into libdln.so as well as libdln.a
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -MMD -MP -fPIC
LDFLAGS  ?=
LDLIBS   := -llapacke -lopenblas -lm -pthread
NVCCFLAGS ?= -O2 -g
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90

LIB_DIRS := src/core src/data src/backends src/backends/cpu src/objective src/model src/solver src/trainer src/diagnostics src/run
LIB_SRC  := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
CUDA_SRC := $(wildcard src/backends/cuda/*.c)
CU_SRC   := $(wildcard kernels/*.cu)
REF_SRC  := $(wildcard src/oracle/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/*.c)
BENCH_SRC := $(wildcard bench/*.c)

ifneq ($(NVCC),)
  LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CUDA_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.o)
  LDLIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcusolver -lcublas -lcudart -lstdc++
  BACKENDS := cpu cuda
else
  LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
  BACKENDS := cpu
endif
REF_OBJ   := $(REF_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

# Include paths by layer: the library sees its own tree; everything above it sees only
# the public headers (plus the host oracles for tests and benchmarks).
INC := -Iinclude -Isrc
$(BUILD)/src/cli/%.o:       INC := -Iinclude
$(BUILD)/src/oracle/%.o: INC := -Iinclude -Isrc/oracle
$(BUILD)/tests/%.o:         INC := -Iinclude -Isrc/oracle -Itests
# the pool and the crew are internal: their unit tests see src/ (no other test does)
$(BUILD)/tests/test_pool.o:   INC := -Iinclude -Isrc -Itests
$(BUILD)/tests/test_crew.o:   INC := -Iinclude -Isrc -Isrc/oracle -Itests
$(BUILD)/src/backends/cuda/%.o: INC := -Iinclude -Isrc -Ikernels -I$(CUDA_HOME)/include
# the CPU backend's loss loops share the losses' arithmetic with the kernels (kernels/loss_math.h)
$(BUILD)/src/backends/cpu/%.o:  INC := -Iinclude -Isrc -Ikernels
# the loss loops' vector math (glibc libmvec's exp and log1p; loss_cpu.c's header says why)
ifeq ($(shell $(CC) -dumpmachine 2>/dev/null | grep -c '^x86_64.*linux-gnu'),1)
ifeq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),)
$(BUILD)/src/backends/cpu/loss_cpu.o: INC += -fopenmp-simd -fno-math-errno -DDLN_CPU_LOSS_SIMD
LDLIBS += -lmvec
endif
endif
ifneq ($(NVCC),)
$(BUILD)/src/backends/registry.o: INC := -Iinclude -Isrc -DDLN_HAVE_CUDA
endif

.PHONY: all test smoke bench clean info
all: info $(BUILD)/dln $(BUILD)/libdln.so

info:
	@echo "dln: building backends: $(BACKENDS)$(if $(NVCC),, (nvcc not found under $(CUDA_HOME): CPU only))"

# Objects depend on a stamp named after the compiler flags, so that changing the flags
# (e.g. -fPIC added) rebuilds them instead of linking stale ones.
FLAGS_STAMP := $(BUILD)/.flags-$(shell echo '$(CC) $(CFLAGS) $(NVCCFLAGS)' | md5sum | cut -c1-12)
$(FLAGS_STAMP):
	@mkdir -p $(dir $@) && rm -f $(BUILD)/.flags-* && touch $@

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -c $< -o $@

$(BUILD)/kernels/%.o: kernels/%.cu $(wildcard kernels/*.h) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(NVCC_ARCH) -Xcompiler -fPIC -Iinclude -c $< -o $@

$(BUILD)/libdln.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The shared library the Python package loads (python/dln/_lib.py): every public symbol,
# linked against the same BLAS/LAPACK (and CUDA) libraries as the program.
$(BUILD)/libdln.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libdln.so $^ $(LDLIBS) -o $@

$(BUILD)/libdln_oracle.a: $(REF_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/dln: $(CLI_OBJ) $(BUILD)/libdln.a
	$(CC) $(CFLAGS) $(LDFLAGS) $(CLI_OBJ) $(BUILD)/libdln.a $(LDLIBS) -o $@

$(BUILD)/dln_tests: $(TEST_OBJ) $(BUILD)/libdln_oracle.a $(BUILD)/libdln.a
	$(CC) $(CFLAGS) $(LDFLAGS) $(TEST_OBJ) $(BUILD)/libdln_oracle.a $(BUILD)/libdln.a $(LDLIBS) -lcriterion -ljansson -o $@

# The builds that `make test` and `make test-sanitize` start themselves use every core.
NPROC := $(shell nproc 2>/dev/null || echo 1)

# Tests run the CLI too (tests/test_cli_*.c), so both binaries are built first; then a
# tiny sweep and plot (tests/scripts_smoke.sh) check the scripts end to end; then the whole
# suite again against the emulated CUDA device (unless SKIP_CUDA_EMU is set).
test: $(BUILD)/dln $(BUILD)/dln_tests $(BUILD)/libdln.so
	DLN_BIN=$(BUILD)/dln $(BUILD)/dln_tests $(TEST_ARGS)
	DLN_BIN=$(BUILD)/dln tests/scripts_smoke.sh
	$(if $(SKIP_PYTHON),@echo "test-python: skipped (SKIP_PYTHON is set)",$(MAKE) --no-print-directory test-python)
	$(if $(SKIP_CUDA_EMU),@echo "cudaemu: skipped (SKIP_CUDA_EMU is set)",$(MAKE) --no-print-directory -j$(NPROC) test-cuda-emu)

# The Python package (python/) against this build's libdln.so and dln: pytest, installed by
# scripts/install-deps (requirements.txt). `make test` runs it unless SKIP_PYTHON is set
# (scripts/gpu-check sets it where pytest is missing: a lent GPU machine has no network).
.PHONY: test-python
test-python: $(BUILD)/dln $(BUILD)/libdln.so
	@python3 -c 'import pytest' 2>/dev/null || { echo "test-python: pytest is missing (scripts/install-deps installs it)"; exit 1; }
	DLN_BIN=$(CURDIR)/$(BUILD)/dln DLN_LIBRARY=$(CURDIR)/$(BUILD)/libdln.so python3 -m pytest -q -p no:cacheprovider python/tests

smoke: $(BUILD)/dln
	DLN_BIN=$(BUILD)/dln tests/scripts_smoke.sh

$(BUILD)/bench/%: bench/%.c $(BUILD)/libdln_oracle.a $(BUILD)/libdln.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MF $@.d $(LDFLAGS) -Iinclude -Isrc/oracle -Ibench $< $(BUILD)/libdln_oracle.a \
	    $(BUILD)/libdln.a $(LDLIBS) -ljansson -o $@

bench: $(BUILD)/dln $(BENCH_BIN)

clean:
	rm -rf $(BUILD) build-sanitize build-fuzz

# ---- make test-sanitize: the whole suite (tests, scripts smoke, save-kill check) built
# with AddressSanitizer, UndefinedBehaviorSanitizer (float-cast-overflow too, which
# -fsanitize=undefined leaves out) and LeakSanitizer, in its own build directory. Any
# finding aborts the process: in a test it fails that test, in dln it turns the exit
# status the test expects into a signal. CUDA's runtime needs protect_shadow_gap=0.
SAN_FLAGS  := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_BUILD  := build-sanitize
SAN_ENV    := ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:protect_shadow_gap=0 \
              UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
              LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 DLN_SANITIZE=1
.PHONY: test-sanitize fuzz test-save-kill
KILLS ?= 50
test-save-kill: $(BUILD)/dln
	DLN_BIN=$(BUILD)/dln tests/save_kill.sh $(KILLS)

test-sanitize:
	$(MAKE) -j$(NPROC) BUILD=$(SAN_BUILD) CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" $(SAN_BUILD)/dln $(SAN_BUILD)/dln_tests
	$(SAN_ENV) DLN_BIN=$(SAN_BUILD)/dln $(SAN_BUILD)/dln_tests $(TEST_ARGS)
	$(SAN_ENV) DLN_BIN=$(SAN_BUILD)/dln tests/scripts_smoke.sh
	$(SAN_ENV) DLN_BIN=$(SAN_BUILD)/dln tests/save_kill.sh 10

# ---- make test-threads-tsan: batches on host threads under ThreadSanitizer: the CLI built
# with -fsanitize=thread trains batches (the sharpness rule, momentum, given and diverging
# steps, lists, a log, 2, 3 and 8 threads), so the pool, the chunked steps and the rule's
# per-thread work all run; a race exits 66. (Criterion's arena cannot start under TSan, so
# the unit tests of the same code run in the plain and ASan suites; OpenBLAS itself is not
# instrumented: its calls from two threads are checked by those tests' bit-for-bit results.)
TSAN_BUILD := build-tsan
TSAN_RUN   := TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(TSAN_BUILD)/dln train --quiet --steps 400
.PHONY: test-threads-tsan
test-threads-tsan:
	$(MAKE) -j$(NPROC) BUILD=$(TSAN_BUILD) CFLAGS="-O1 -g -fsanitize=thread" LDFLAGS="-fsanitize=thread" \
	    $(TSAN_BUILD)/dln
	$(TSAN_RUN) --seeds 1-24 --threads 2 > /dev/null
	$(TSAN_RUN) --seeds 1-6 --lr auto,0.01,5 --momentum 0,0.5 --init orthogonal,gaussian --threads 3 \
	    --log $(TSAN_BUILD)/threads-log.jsonl > /dev/null
	$(TSAN_RUN) --seeds 1-40 --width 8 --depth 6 --threads 8 --batch-size 17 > /dev/null
	@echo "test-threads-tsan: no data race in threaded batches"

# ---- make fuzz: the libFuzzer harness of the .npy reader (fuzz/npy_fuzz.c) with ASan and
# UBSan, run for FUZZ_TIME seconds on a copy of the seed corpus fuzz/corpus/npy/ (new
# inputs go to build-fuzz/corpus/, the committed seeds stay as they are). Needs clang and
# its runtime (Debian: clang-14 libclang-rt-14-dev); skipped with a message without them.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
FUZZ_BUILD := build-fuzz
fuzz:
	@mkdir -p $(FUZZ_BUILD)/corpus
	@if ! $(FUZZ_CC) -fsanitize=fuzzer,address,undefined,float-cast-overflow -fno-sanitize-recover=all -g -O1 \
	      -std=c11 -D_GNU_SOURCE -Iinclude -Isrc fuzz/npy_fuzz.c src/data/npy.c src/core/error.c \
	      -o $(FUZZ_BUILD)/npy_fuzz 2>$(FUZZ_BUILD)/build.log; then \
	    echo "make fuzz: skipped: $(FUZZ_CC) cannot build a libFuzzer binary (install clang and libclang-rt-dev; see $(FUZZ_BUILD)/build.log)"; \
	else \
	    echo "make fuzz: $(FUZZ_BUILD)/npy_fuzz for $(FUZZ_TIME) s"; \
	    $(FUZZ_BUILD)/npy_fuzz -max_total_time=$(FUZZ_TIME) -dict=fuzz/npy.dict -print_final_stats=1 \
	        $(FUZZ_BUILD)/corpus fuzz/corpus/npy; \
	fi

# The emulated CUDA device (tests/cudaemu/README.md): the CUDA backend executed, not only
# compiled, on machines without a GPU, from the same sources (kernels compiled by g++ with
# the emulator's forced-include header), into $(BUILD)/emu. One set of flags for every C
# file there; the layering is enforced by the normal build above.
EMU_LIB_SRC    := $(LIB_SRC) $(CUDA_SRC)
EMU_CLI_SRC    := $(CLI_SRC)
EMU_TEST_SRC   := $(TEST_SRC) $(REF_SRC)
EMU_BENCH_SRC  := $(BENCH_SRC)
EMU_REF_SRC    := $(REF_SRC)
EMU_KERNEL_SRC := $(CU_SRC)
EMU_KERNEL_INC := -Iinclude -Ikernels
EMU_CFLAGS     := $(filter-out -MMD -MP,$(CFLAGS)) -Iinclude -Isrc -Ikernels -Isrc/oracle -Itests -DDLN_HAVE_CUDA \
                  -I$(CUDA_HOME)/include
EMU_HEADERS    := $(wildcard include/dln/*.h src/*/*.h src/*/*/*.h kernels/*.h tests/*.h)
EMU_LDLIBS     := -llapacke -lopenblas -lm -pthread -ljansson
# the losses' and the matrix problems' trajectories against numpy, through the emulated device's dln (when pytest is there)
EMU_PYTEST     := $(if $(shell python3 -c 'import pytest' 2>/dev/null && echo y),python3 -m pytest -q -p no:cacheprovider \
                  python/tests/test_losses.py python/tests/test_matrix.py python/tests/test_flow.py -k cli)
include tests/cudaemu/cudaemu.mk

-include $(shell find $(BUILD) -name '*.d' -not -path '*/emu*' 2>/dev/null)
