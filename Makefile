# pwnm - keep Patchwork and a notmuch index in step
# GNU make.  make, make check, make install [PREFIX=... DESTDIR=...]

VERSION = 0.1

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/pwnm
MANDIR ?= $(PREFIX)/share/man
LISPDIR ?= $(PREFIX)/share/emacs/site-lisp
DESTDIR ?=
# Emacs byte-compiles pwnm.el on install when it finds notmuch-emacs
# (on its load path, or in NOTMUCH_LISPDIR).
EMACS ?= emacs
NOTMUCH_LISPDIR ?=

BUILD ?= build
TOP :=
include sources.mk
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

WARN = -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
       -Wmissing-prototypes -Wwrite-strings -Wcast-qual -Wno-format-nonliteral
ifeq ($(WERROR),1)
WARN += -Werror
endif
CFLAGS ?= -O2 -g
ALL_CPPFLAGS = -D_GNU_SOURCE -DPWNM_VERSION='"$(VERSION)"' -Isrc $(PKG_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS = $(WARN) $(ALL_CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lnotmuch $(LDLIBS)

LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
PROG_SRC := $(sort $(filter-out $(LIB_SRC),$(wildcard src/pwnm*.c)))
PROGS := $(PROG_SRC:src/%.c=$(BUILD)/%)
TST_SRC := $(sort $(wildcard tests/tst_*.c))
TSTS := $(TST_SRC:tests/%.c=$(BUILD)/tests/%)
MAN := $(wildcard src/*.1 src/*.5 src/*.7)
# notmuch's hooks: installed as links to pwnm-hook-idle, which takes its name as the hook's
# (in the source tree, hooks/ has them as links to the script notmuch-hook)
HOOK_NAMES = pre-new post-new post-insert

all: $(PROGS) $(BUILD)/notmuch-pwnm

$(BUILD) $(BUILD)/tests:
	mkdir -p $@

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libpwnm.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(filter-out $(BUILD)/pwnm-hook $(BUILD)/pwnm-hook-idle,$(PROGS)): $(BUILD)/%: $(BUILD)/%.o $(BUILD)/libpwnm.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libpwnm.a $(LDLIBS_ALL)

# The hooks' first step stays small: no HTTP or JSON library to load.
$(BUILD)/pwnm-hook: $(BUILD)/pwnm-hook.o $(BUILD)/libpwnm.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libpwnm.a \
	  $(shell pkg-config --libs lmdb) -lnotmuch $(LDLIBS)

# The hooks' entry point, run on every notmuch new: libc and LMDB only, and
# linked statically where both static libraries are there (it then starts
# without the dynamic loader: about 0.3 ms less a hook); not in sanitizer builds.
static_lib = $(filter /%,$(shell $(CC) -print-file-name=$(1)))
HOOK_IDLE_LDFLAGS ?= $(if $(findstring sanitize,$(EXTRA_LDFLAGS)),,$(if $(and \
  $(call static_lib,libc.a),$(call static_lib,liblmdb.a)),-static))
$(BUILD)/pwnm-hook-idle: $(BUILD)/pwnm-hook-idle.o $(BUILD)/libpwnm.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(HOOK_IDLE_LDFLAGS) -o $@ $< $(BUILD)/libpwnm.a \
	  $(shell pkg-config --libs lmdb) $(LDLIBS)

$(BUILD)/notmuch-pwnm: $(BUILD)/pwnm
	ln -sf pwnm $@

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(TSTS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libpwnm.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libpwnm.a $(LDLIBS_ALL)

.SECONDARY:

# The whole suite: C unit tests and the scenario scripts, through prove.
# PWNM_BUILD tells the scripts which binaries to test.
PROVE ?= prove
PROVE_FLAGS ?= -v
TESTS ?= $(TSTS) $(sort $(wildcard tests/T*.t))
check: all $(TSTS)
	PWNM_BUILD=$(abspath $(BUILD)) PWNM_SRC=$(CURDIR) $(PROVE) $(PROVE_FLAGS) $(TESTS)

# The same suite on an ASan+UBSan build in its own directory.
check-asan:
	$(MAKE) BUILD=build-asan \
	  EXTRA_CFLAGS='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined' \
	  EXTRA_LDFLAGS='-fsanitize=address,undefined' \
	  ASAN_OPTIONS=detect_leaks=0 PWNM_SANITIZED=1 check

# A demo on a throwaway notmuch database and the bundled Patchwork stand-in.
demo: all
	PWNM_BUILD=$(abspath $(BUILD)) tests/demo.sh

# Benchmarks (not part of check): bench/run measures into bench/results.json,
# bench/render writes bench/RESULTS.md from it.  BENCH_SIZES="10000 100000".
bench: all
	PWNM_BUILD=$(abspath $(BUILD)) PWNM_SRC=$(CURDIR) bench/run
	bench/render

# The C unit tests and the main scenarios under valgrind memcheck.
VALGRIND_TESTS = tests/T100-pull.t tests/T200-push.t tests/T110-faults.t tests/T700-crash.t
check-valgrind: all $(TSTS)
	PWNM_BUILD=$(abspath $(BUILD)) PWNM_SRC=$(CURDIR) TEST_VALGRIND=1 $(PROVE) $(PROVE_FLAGS) \
	  --exec tests/vg-exec \
	  $(TSTS) $(VALGRIND_TESTS)

# libFuzzer targets (clang): a run of FUZZ_SECONDS each, and a replay of the saved inputs.
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) -C tests/fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)
fuzz-regress:
	$(MAKE) -C tests/fuzz regress

lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 -Isrc --suppress=missingIncludeSystem src tests
	! grep -nE '\<(sprintf|strcpy|strcat|gets|atoi) *\(' src/*.c src/*.h
	for m in $(MAN); do groff -mandoc -ww -z $$m || exit 1; done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(LISPDIR)
	for p in $(filter-out $(BUILD)/pwnm-hook $(BUILD)/pwnm-hook-idle,$(PROGS)); do \
	  install -m 755 $$p $(DESTDIR)$(BINDIR)/; done
	ln -sf pwnm $(DESTDIR)$(BINDIR)/notmuch-pwnm
	install -m 755 hooks/pwnm-notmuch $(BUILD)/pwnm-hook $(BUILD)/pwnm-hook-idle $(DESTDIR)$(LIBEXECDIR)/
	rm -f $(DESTDIR)$(LIBEXECDIR)/notmuch-hook $(DESTDIR)$(BINDIR)/pwnm-hook $(DESTDIR)$(BINDIR)/pwnm-hook-idle
	ln -sf $(BINDIR)/pwnm $(DESTDIR)$(LIBEXECDIR)/pwnm
	for h in $(HOOK_NAMES); do ln -sf pwnm-hook-idle $(DESTDIR)$(LIBEXECDIR)/$$h; done
	for m in $(filter %.1,$(MAN)); do install -m 644 $$m $(DESTDIR)$(MANDIR)/man1/; done
	for m in $(filter %.5,$(MAN)); do install -m 644 $$m $(DESTDIR)$(MANDIR)/man5/; done
	for m in $(filter %.7,$(MAN)); do install -m 644 $$m $(DESTDIR)$(MANDIR)/man7/; done
	ln -sf pwnm.1 $(DESTDIR)$(MANDIR)/man1/notmuch-pwnm.1
	install -m 644 emacs/pwnm.el $(DESTDIR)$(LISPDIR)/
	rm -f $(DESTDIR)$(LISPDIR)/pwnm.elc
	@if command -v $(EMACS) >/dev/null 2>&1; then \
	  if $(EMACS) --batch $(if $(NOTMUCH_LISPDIR),-L $(NOTMUCH_LISPDIR)) -L $(DESTDIR)$(LISPDIR) \
	    -f batch-byte-compile $(DESTDIR)$(LISPDIR)/pwnm.el >$(BUILD)/pwnm-elc.log 2>&1; then \
	    echo "byte-compiled $(DESTDIR)$(LISPDIR)/pwnm.elc"; \
	  else \
	    rm -f $(DESTDIR)$(LISPDIR)/pwnm.elc; \
	    echo "pwnm.el is not byte-compiled: $(EMACS) did not find notmuch-emacs" \
	      "(set NOTMUCH_LISPDIR to its directory; see $(BUILD)/pwnm-elc.log)"; \
	  fi; \
	fi

uninstall:
	for p in $(PROGS); do rm -f $(DESTDIR)$(BINDIR)/$${p##*/}; done
	rm -f $(DESTDIR)$(BINDIR)/notmuch-pwnm
	for h in hooks/* pwnm-hook pwnm-hook-idle pwnm; do rm -f $(DESTDIR)$(LIBEXECDIR)/$${h##*/}; done
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null
	for m in $(MAN); do rm -f $(DESTDIR)$(MANDIR)/man*/$${m##*/}; done
	rm -f $(DESTDIR)$(MANDIR)/man1/notmuch-pwnm.1
	rm -f $(DESTDIR)$(LISPDIR)/pwnm.el $(DESTDIR)$(LISPDIR)/pwnm.elc

clean:
	rm -rf build build-asan
	-$(MAKE) -C tests/fuzz clean

.PHONY: all check check-asan check-valgrind fuzz fuzz-regress demo bench lint install uninstall clean

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d)
