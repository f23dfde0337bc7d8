# Makefile for dln. `make` builds build/dln (and build/libdln.a); `make test` builds and
# runs the Criterion suite; `make bench` builds the benchmark binaries.
# The CPU backend (OpenBLAS + LAPACKE) is built everywhere. The CUDA backend is built
# whenever nvcc is found under CUDA_HOME, GPU or not, so every build compiles and links it.

CC       ?= gcc
CUDA_HOME ?= /usr/local/cuda
NVCC     := $(wildcard $(CUDA_HOME)/bin/nvcc)
BUILD    ?= build

CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Iinclude -Isrc
LDFLAGS  ?=
LDLIBS   := -llapacke -lopenblas -lm
NVCCFLAGS ?= -O2 -g
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90

LIB_SRC  := $(filter-out src/cli%.c src/backend_cuda%.c,$(wildcard src/*.c))
CLI_SRC  := $(wildcard src/cli*.c)
CU_SRC   :=
ifneq ($(NVCC),)
  override CFLAGS += -DDLN_HAVE_CUDA -I$(CUDA_HOME)/include
  LIB_SRC += $(filter src/backend_cuda%.c,$(wildcard src/*.c))
  CU_SRC  := $(wildcard kernels/*.cu)
  LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcusolver -lcublas -lcudart -lstdc++
  BACKENDS := cpu cuda
else
  BACKENDS := cpu
endif

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test smoke bench clean info
all: info $(BUILD)/dln

info:
	@echo "dln: building backends: $(BACKENDS)$(if $(NVCC),, (nvcc not found under $(CUDA_HOME): CPU only))"

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*.h kernels/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/kernels/%.o: kernels/%.cu $(wildcard kernels/*.h)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(NVCC_ARCH) -Iinclude -Ikernels -c $< -o $@

$(BUILD)/libdln.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(BUILD)/dln: $(CLI_OBJ) $(BUILD)/libdln.a
	$(CC) $(CFLAGS) $(LDFLAGS) $(CLI_OBJ) $(BUILD)/libdln.a $(LDLIBS) -o $@

$(BUILD)/dln_tests: $(TEST_OBJ) $(BUILD)/libdln.a
	$(CC) $(CFLAGS) $(LDFLAGS) $(TEST_OBJ) $(BUILD)/libdln.a $(LDLIBS) -lcriterion -o $@

# Tests run the CLI too (tests/test_cli_*.c), so both binaries are built first; then a
# tiny sweep and plot (tests/scripts_smoke.sh) check the scripts end to end.
test: $(BUILD)/dln $(BUILD)/dln_tests
	DLN_BIN=$(BUILD)/dln $(BUILD)/dln_tests $(TEST_ARGS)
	DLN_BIN=$(BUILD)/dln tests/scripts_smoke.sh

smoke: $(BUILD)/dln
	DLN_BIN=$(BUILD)/dln tests/scripts_smoke.sh

$(BUILD)/bench/%: bench/%.c $(BUILD)/libdln.a $(wildcard bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ibench $< $(BUILD)/libdln.a $(LDLIBS) -o $@

bench: $(BUILD)/dln $(BENCH_BIN)

clean:
	rm -rf $(BUILD)
