# gptc — GNU Make build. `make` builds ./gptc; `make test` runs every CPU test (+ ASan/UBSan);
# `make demo` asks the trained toy model in demo/ one question; `make test-cuda` runs GPU tests;
# `make install PREFIX=... DESTDIR=...` installs the program, man page, library and header.
# Each folder is one module and one static library; tests link only what they need:
#   test/test_gguf*.c -> gguf, test/test_tok*.c -> tokenizer+gguf, other test/test_*.c -> all
#   (cli/*.c is a library too, so tests can call the harmony renderer etc.; main.c is not).

.DEFAULT_GOAL := all
SHELL := /bin/bash

CC      ?= gcc
ifeq ($(origin CC),default)
CC      := gcc
endif
NATIVE  ?= 1
OPT     ?= -O2
ARCHFLAGS := $(if $(filter 1,$(NATIVE)),-march=native,)
WARN    := -Wall -Wextra -Werror
# -fPIC: the module objects also make up libgptc.so (see "library and install" below).
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(WARN) -g $(OPT) $(ARCHFLAGS) -pthread -fPIC -Iinclude -I.
DEPFLAGS = -MMD -MP
SAN     ?=
BUILD   ?= build

# --- CUDA: compiled when nvcc is found (make CUDA=0 skips it) --------------------------------
NVCC    ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
ifeq ($(strip $(NVCC)),)
CUDA    ?= 0
else
CUDA    ?= 1
endif
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# sm_90a: Hopper (wgmma/TMA paths); sm_80 cubin runs on every Ampere/Ada card (8.0/8.6/8.9);
# compute_80 PTX lets newer cards JIT. Override with CUDA_ARCH=... for faster dev builds.
CUDA_ARCH ?= -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_80,code=sm_80 \
             -gencode arch=compute_80,code=compute_80
NVCCFLAGS ?= -O3 -std=c++17 -lineinfo $(CUDA_ARCH) -Iinclude -I. -Xcompiler -Wall,-Wextra,-Werror \
             --expt-relaxed-constexpr -Werror all-warnings
NVCCFLAGS += -Xcompiler -fPIC
CUDA_SRCS := $(wildcard cuda/*.cu)
CUDA_C_SRCS := $(wildcard cuda/*.c) # host code of the CUDA backend: plain C (cudart, cuBLAS)
ifeq ($(CUDA),1)
ifneq ($(CUDA_SRCS),)
WITH_CUDA := 1
endif
endif

# --- settings: .cache/config.mk, generated (like redis's settings file) --------------------------
# The package flags come from pkg-config, but on a fresh machine the packages are not there when
# make parses this file. So they live in a generated makefile: make builds it first (running
# scripts/setup.sh, which installs what is missing, then scripts/configure.sh, which writes it),
# then re-reads it. SETUP=0 skips the installs (e.g. the GPU machine, where nothing is installed).
CONFIG_MK := .cache/config.mk
SETUP ?= 1
NOCONFIG_GOALS := clean format format-check uninstall
ifneq ($(filter-out $(NOCONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
include $(CONFIG_MK)
endif
$(CONFIG_MK): scripts/setup.sh scripts/configure.sh scripts/fetch-gptoss-tokenizer.sh
	@$(if $(filter 1,$(SETUP)),scripts/setup.sh,scripts/configure.sh)
setup:
	@scripts/setup.sh

CFLAGS  ?=
CFLAGS  := $(CFLAGS_BASE) $(CONFIG_CFLAGS) $(SAN) $(CFLAGS)
LDLIBS  := $(or $(CONFIG_LIBS),-lcjson -lutf8proc -lcurl) -lm -lpthread
CHECK_CFLAGS := $(CONFIG_CHECK_CFLAGS)
CHECK_LIBS   := $(or $(CONFIG_CHECK_LIBS),-lcheck -lsubunit -lrt -lm)
ifdef WITH_CUDA
CFLAGS  += -DGPTC_WITH_CUDA
# the CUDA runtime statically (it loads the driver on the first CUDA call) and cuBLAS with dlopen
# when a model goes to the GPU (cuda/blas.c): a CPU run of a CUDA build loads no CUDA library
LDLIBS  += -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/targets/x86_64-linux/lib -lcudart_static -lstdc++ -ldl -lrt
endif
LDFLAGS ?=
LDFLAGS += $(SAN)

# --- modules -----------------------------------------------------------------------------------
MODULES := gguf tokenizer engine convert grammar
define module_objs
$(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c))
endef
GGUF_OBJS      := $(call module_objs,gguf)
TOKENIZER_OBJS := $(call module_objs,tokenizer)
ENGINE_OBJS    := $(call module_objs,engine)
CONVERT_OBJS   := $(call module_objs,convert)
GRAMMAR_OBJS   := $(call module_objs,grammar)
CLI_OBJS       := $(call module_objs,cli)
MAIN_OBJ       := $(BUILD)/obj/main.o
CUDA_OBJS      := $(patsubst cuda/%.cu,$(BUILD)/obj/cuda/%.o,$(CUDA_SRCS)) \
                  $(patsubst cuda/%.c,$(BUILD)/obj/cuda/%.o,$(CUDA_C_SRCS))
TESTUTIL_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard test/util/*.c))

LIB_GGUF      := $(BUILD)/libgptc_gguf.a
LIB_TOKENIZER := $(BUILD)/libgptc_tokenizer.a
LIB_ENGINE    := $(BUILD)/libgptc_engine.a
LIB_CONVERT   := $(BUILD)/libgptc_convert.a
LIB_GRAMMAR   := $(BUILD)/libgptc_grammar.a
LIB_CUDA      := $(if $(WITH_CUDA),$(BUILD)/libgptc_cuda.a,)
LIB_TESTUTIL  := $(BUILD)/libgptc_testutil.a
LIB_CLI       := $(BUILD)/libgptc_cli.a
ALL_LIBS      := $(LIB_CONVERT) $(LIB_GRAMMAR) $(LIB_ENGINE) $(LIB_CUDA) $(LIB_TOKENIZER) $(LIB_GGUF)

$(BUILD)/obj/%.o: %.c | $(CONFIG_MK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/obj/test/%.o: test/%.c | $(CONFIG_MK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) $(DEPFLAGS) -c $< -o $@

# -MMD -MP: the .d files (included at the end) list every header a .cu reads, engine ones too
$(BUILD)/obj/cuda/%.o: cuda/%.cu | $(CONFIG_MK)
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/obj/cuda/%.o: cuda/%.c | $(CONFIG_MK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -isystem $(CUDA_HOME)/include -DGPTC_CUDA_LIBDIR='"$(CUDA_HOME)/lib64"' \
		$(DEPFLAGS) -c $< -o $@

$(LIB_GGUF): $(GGUF_OBJS)
$(LIB_TOKENIZER): $(TOKENIZER_OBJS)
$(LIB_ENGINE): $(ENGINE_OBJS)
$(LIB_CONVERT): $(CONVERT_OBJS)
$(LIB_GRAMMAR): $(GRAMMAR_OBJS)
$(BUILD)/libgptc_cuda.a: $(CUDA_OBJS)
$(LIB_TESTUTIL): $(TESTUTIL_OBJS)
$(LIB_CLI): $(CLI_OBJS)
$(BUILD)/lib%.a:
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^ $(if $^,,$(BUILD)/empty.o)

$(BUILD)/empty.o:
	@mkdir -p $(@D)
	echo "" | $(CC) -x c -c - -o $@

# an empty module still yields a valid archive
$(LIB_GGUF) $(LIB_TOKENIZER) $(LIB_ENGINE) $(LIB_CONVERT) $(LIB_GRAMMAR) $(LIB_TESTUTIL) $(LIB_CLI): | $(BUILD)/empty.o

# --- generated sources: BUILD/gen ------------------------------------------------------------
# help.inc: cli/help.txt as a C string (`gptc --help`; the man page comes from the same file).
# build_info.h: commit and CUDA architectures, rewritten only when they change.
$(BUILD)/gen/help.inc: cli/help.txt scripts/gen-help.sh
	@mkdir -p $(@D)
	scripts/gen-help.sh $< > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/build_info.h: FORCE
	@mkdir -p $(@D)
	@scripts/gen-build-info.sh $@ "$(if $(WITH_CUDA),$(CUDA_ARCH))"
$(BUILD)/obj/cli/help.o: $(BUILD)/gen/help.inc
$(BUILD)/obj/engine/version.o: $(BUILD)/gen/build_info.h
$(BUILD)/obj/cli/help.o $(BUILD)/obj/engine/version.o: CFLAGS += -I$(BUILD)/gen
FORCE:

$(BUILD)/gptc: $(MAIN_OBJ) $(LIB_CLI) $(ALL_LIBS)
	$(CC) $(LDFLAGS) $(CFLAGS) -o $@ $(MAIN_OBJ) $(LIB_CLI) $(ALL_LIBS) $(LDLIBS)

# ./gptc is a copy of build/gptc (other BUILD folders keep theirs inside).
gptc: $(BUILD)/gptc
	$(if $(filter build,$(BUILD)),cp $< $@,@true)

all: $(BUILD)/gptc $(if $(filter build,$(BUILD)),gptc) tools lib

# --- tools (test-model generator etc.): test/tools/*.c -> build/tools/* ------------------------
TOOLS := $(patsubst test/tools/%.c,$(BUILD)/tools/%,$(wildcard test/tools/*.c))
$(BUILD)/tools/%: test/tools/%.c $(ALL_LIBS) | $(CONFIG_MK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -o $@ $< $(ALL_LIBS) $(LDLIBS) $(LDFLAGS)
tools: $(TOOLS)

# --- tests ---------------------------------------------------------------------------------------
TEST_SRCS := $(wildcard test/test_*.c)
TESTS     := $(patsubst test/%.c,$(BUILD)/test/%,$(TEST_SRCS))
TLINK = $(CC) $(CFLAGS) $(CHECK_CFLAGS) $(DEPFLAGS) -o $@ $< $(LIB_TESTUTIL)
$(BUILD)/test/test_gguf%: test/test_gguf%.c $(LIB_GGUF) $(LIB_TESTUTIL)
	@mkdir -p $(@D)
	$(TLINK) $(LIB_GGUF) $(CHECK_LIBS) $(LDLIBS) $(LDFLAGS)
$(BUILD)/test/test_tok%: test/test_tok%.c $(LIB_TOKENIZER) $(LIB_GGUF) $(LIB_TESTUTIL)
	@mkdir -p $(@D)
	$(TLINK) $(LIB_TOKENIZER) $(LIB_GGUF) $(CHECK_LIBS) $(LDLIBS) $(LDFLAGS)
$(BUILD)/test/test_%: test/test_%.c $(LIB_CLI) $(ALL_LIBS) $(LIB_TESTUTIL)
	@mkdir -p $(@D)
	$(TLINK) $(LIB_CLI) $(ALL_LIBS) $(CHECK_LIBS) $(LDLIBS) $(LDFLAGS)

CUDA_TEST_SRCS := $(wildcard test/cuda/test_*.c)
CUDA_TESTS := $(patsubst test/cuda/%.c,$(BUILD)/test/cuda/%,$(CUDA_TEST_SRCS))
# with CUDA the GPU tests are built too (not run: that is `make test-cuda` on the GPU machine),
# so a GPU test that no longer compiles fails CI, not a device session
tests: $(TESTS) $(if $(WITH_CUDA),$(CUDA_TESTS))

# `make test`: every CPU test, then the unit tests again under ASan+UBSan (CPU-only build).
test: all tests
	@scripts/run-tests.sh $(TESTS)
	@$(MAKE) --no-print-directory test-asan

ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test-asan: | $(CONFIG_MK)
	@echo "== unit tests under ASan+UBSan (build-asan/) =="
	@$(MAKE) --no-print-directory BUILD=build-asan CUDA=0 NATIVE=$(NATIVE) OPT=-O1 SAN="$(ASAN_FLAGS)" \
		build-asan-tests
	@GPTC_ASAN=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		scripts/run-tests.sh $(patsubst $(BUILD)/%,build-asan/%,$(TESTS))

build-asan-tests: $(BUILD)/gptc tests tools lib

# GPU tests (GPU machine only): test/cuda/test_*.c linked with everything.
$(BUILD)/test/cuda/%: test/cuda/%.c $(ALL_LIBS) $(LIB_TESTUTIL)
	@mkdir -p $(@D)
	$(TLINK) $(ALL_LIBS) $(CHECK_LIBS) $(LDLIBS) $(LDFLAGS)
test-cuda: all $(CUDA_TESTS)
	@scripts/run-tests.sh $(CUDA_TESTS)

# --- fuzzers (clang libFuzzer) ------------------------------------------------------------------
SECONDS ?= 60
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -Iinclude -I. $(CONFIG_CFLAGS)
# the CLI's input parsers, linked alone (they need only cJSON and the tests' UTF-8 checker)
FUZZ_SRCS_batch_line_fuzz := cli/batch_line.c cli/jsontext.c cli/messages.c cli/jval.c cli/tooldefs.c \
                             test/util/testutil.c
FUZZ_SRCS_conv_load_fuzz  := cli/messages.c cli/jsontext.c cli/jval.c cli/tooldefs.c test/util/testutil.c
# the tokenizer fuzzers' test helpers: the UTF-8 checker and the reference regex (not the whole
# test/util/, whose session-copy helpers need the library and Check)
FUZZ_TEST_UTIL := test/util/testutil.c test/util/regex_ref.c
build/fuzz/%: test/fuzz/%.c $(wildcard gguf/*.c gguf/*.h tokenizer/*.c tokenizer/*.h grammar/*.c \
		grammar/*.h test/util/* cli/*.c cli/*.h) | $(CONFIG_MK)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(FUZZ_FLAGS) -o $@ $< $(wildcard gguf/*.c) \
		$(if $(findstring tok,$*),$(wildcard tokenizer/*.c) $(FUZZ_TEST_UTIL),) $(FUZZ_SRCS_$*) \
		$(if $(or $(findstring gbnf,$*),$(findstring schema,$*)),$(wildcard grammar/*.c tokenizer/*.c),) \
		$(LDLIBS)
fuzz-%: build/fuzz/%_fuzz
	@mkdir -p build/fuzz/corpus-$*
	build/fuzz/$*_fuzz -max_total_time=$(SECONDS) -print_final_stats=1 build/fuzz/corpus-$* \
		$(wildcard test/fuzz/seeds-$*)

# --- library and install ----------------------------------------------------------------------
# libgptc.a and libgptc.so (soname libgptc.so.MAJOR; only the gptc_* API of include/gptc.h is
# exported) hold the gguf, tokenizer, engine, grammar, convert and cuda modules; the version is
# gptc.h's.
VERSION   := $(shell sed -n 's/^\#define GPTC_VERSION_STRING "\(.*\)"/\1/p' include/gptc.h)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
LIB_OBJS   = $(CONVERT_OBJS) $(GRAMMAR_OBJS) $(ENGINE_OBJS) $(if $(WITH_CUDA),$(CUDA_OBJS)) \
             $(TOKENIZER_OBJS) $(GGUF_OBJS)
$(BUILD)/lib/libgptc.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/lib/libgptc.so.$(VERSION): $(LIB_OBJS) scripts/libgptc.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libgptc.so.$(SOVERSION) -Wl,--version-script=scripts/libgptc.map \
		-Wl,-z,defs -o $@ $(LIB_OBJS) $(LDLIBS) $(LDFLAGS)
$(BUILD)/gptc.1: cli/help.txt scripts/gen-man.sh include/gptc.h
	scripts/gen-man.sh $< $(VERSION) > $@.tmp && mv $@.tmp $@
lib: $(BUILD)/lib/libgptc.a $(BUILD)/lib/libgptc.so.$(VERSION) $(BUILD)/gptc.1

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PCDIR      ?= $(LIBDIR)/pkgconfig
PC_LIBS_PRIVATE := -lm -lpthread \
	$(if $(WITH_CUDA),-L$(CUDA_HOME)/lib64 -lcudart_static -lstdc++ -ldl -lrt)
install: all lib
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PCDIR)
	install -m 755 $(BUILD)/gptc $(DESTDIR)$(BINDIR)/gptc
	install -m 644 $(BUILD)/gptc.1 $(DESTDIR)$(MANDIR)/man1/gptc.1
	install -m 644 include/gptc.h $(DESTDIR)$(INCLUDEDIR)/gptc.h
	install -m 644 $(BUILD)/lib/libgptc.a $(DESTDIR)$(LIBDIR)/libgptc.a
	install -m 755 $(BUILD)/lib/libgptc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgptc.so.$(VERSION)
	ln -sf libgptc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgptc.so.$(SOVERSION)
	ln -sf libgptc.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libgptc.so
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|; s|@LIBS_PRIVATE@|$(PC_LIBS_PRIVATE)|' \
		scripts/gptc.pc.in > $(DESTDIR)$(PCDIR)/gptc.pc
	chmod 644 $(DESTDIR)$(PCDIR)/gptc.pc
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gptc $(DESTDIR)$(MANDIR)/man1/gptc.1 \
		$(DESTDIR)$(INCLUDEDIR)/gptc.h $(DESTDIR)$(LIBDIR)/libgptc.a \
		$(DESTDIR)$(LIBDIR)/libgptc.so $(DESTDIR)$(LIBDIR)/libgptc.so.$(SOVERSION) \
		$(DESTDIR)$(LIBDIR)/libgptc.so.$(VERSION) $(DESTDIR)$(PCDIR)/gptc.pc

# --- demo ---------------------------------------------------------------------------------------
demo: all
	@scripts/demo.sh

# Formatting (.clang-format; CI checks it with clang-format 14: .ci/run)
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' '*.cu' '*.cuh' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@command -v clang-format >/dev/null || \
		{ echo "format-check: clang-format not found (scripts/setup.sh installs it)" >&2; exit 1; }
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: $(words $(FORMAT_FILES)) files formatted"

clean:
	rm -rf build build-* gptc

.PHONY: all tools tests test test-asan build-asan-tests test-cuda demo format format-check clean setup \
	lib install uninstall FORCE
.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
