# portier — build, test and install.
#
#   make                 build everything into build/
#   make run             build, then run the main job in the foreground
#   make check           build and run the whole test suite (unit + e2e)
#   make check SANITIZE=1  the same under ASan+UBSan (objects in build/sanitize/)
#   make fuzz            build the libFuzzer targets with clang and run each FUZZ_SECONDS
#   make install         PREFIX=/usr/local DESTDIR= honoured (the configuration goes to
#                        SYSCONFDIR=/etc, where portierd looks by default, and is never
#                        overwritten)
#
# Sources are found by wildcard: a new .c file in lib/, src/conf/, src/daemon/, src/ctl/ or
# src/proto/ is built without touching this file, and so is a new tests/unit/test-*.c or
# fuzz/fuzz-*.c.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/portier
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

VERSION    := 0.1.0
SOVERSION  := 0

SANITIZE   ?= 0
FUZZ       ?= 0
WERROR     ?= 0
FUZZ_SECONDS ?= 300

ifeq ($(FUZZ),1)
B          ?= build/fuzz
CC         := clang
MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(SANITIZE),1)
B          ?= build/sanitize
MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
MODE_LDFLAGS := -fsanitize=address,undefined
else
B          ?= build
MODE_CFLAGS := -O2 -g -D_FORTIFY_SOURCE=2
MODE_LDFLAGS :=
endif

WARN       := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
              -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN       += -Werror
endif

CPPFLAGS   += -D_GNU_SOURCE -DPORTIER_VERSION='"$(VERSION)"' -Iinclude -Isrc -Ilib
CFLAGS     ?=
ALL_CFLAGS := -std=gnu17 -fPIC -pipe $(WARN) $(MODE_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS := $(MODE_LDFLAGS) $(LDFLAGS)

# libwrap is optional at build time (DESIGN.md decision 2); scripts/deps.sh installs it.
HAVE_LIBWRAP := $(shell test -f /usr/include/tcpd.h && echo 1)
ifeq ($(HAVE_LIBWRAP),1)
CPPFLAGS   += -DHAVE_LIBWRAP=1
WRAP_LIBS  := -lwrap
endif

LIB_SRCS    := $(sort $(wildcard lib/*.c))
CONF_SRCS   := $(sort $(wildcard src/conf/*.c))
PROTO_SRCS  := $(sort $(wildcard src/proto/*.c))
DAEMON_SRCS := $(sort $(filter-out src/daemon/main.c,$(wildcard src/daemon/*.c)))
CTL_SRCS    := $(sort $(wildcard src/ctl/*.c))
UNIT_SRCS   := $(sort $(wildcard tests/unit/test-*.c))
FUZZ_SRCS   := $(sort $(wildcard fuzz/fuzz-*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIB_OBJS    := $(call obj,$(LIB_SRCS))
CONF_OBJS   := $(call obj,$(CONF_SRCS))
PROTO_OBJS  := $(call obj,$(PROTO_SRCS))
DAEMON_OBJS := $(call obj,$(DAEMON_SRCS))
CTL_OBJS    := $(call obj,$(CTL_SRCS))

LIBPORTIER_A  := $(B)/libportier.a
LIBPORTIER_SO := $(B)/libportier.so.$(SOVERSION)
# Internal archives: tests and fuzzers link the same code the programs run.
LIBCONF_A     := $(B)/libconf.a
LIBPROTO_A    := $(B)/libproto.a
LIBDAEMON_A   := $(B)/libportierd.a
INTERNAL_LIBS := $(LIBDAEMON_A) $(LIBPROTO_A) $(LIBCONF_A) $(LIBPORTIER_A)

PROGRAMS    := $(B)/portierd $(B)/exampled
ifneq ($(CTL_SRCS),)
PROGRAMS    += $(B)/portierctl
endif
UNIT_BINS   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
FUZZ_BINS   := $(patsubst fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))

.PHONY: all run run-exampled check check-deps unit e2e fuzz fuzz-build install uninstall clean
.DELETE_ON_ERROR:

all: $(LIBPORTIER_A) $(LIBPORTIER_SO) $(PROGRAMS)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIBPORTIER_A): $(LIB_OBJS)
$(LIBCONF_A): $(CONF_OBJS)
$(LIBPROTO_A): $(PROTO_OBJS)
$(LIBDAEMON_A): $(DAEMON_OBJS)
$(B)/%.a:
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(LIBPORTIER_SO): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libportier.so.$(SOVERSION) $(ALL_LDFLAGS) -o $@ $^

# Files that name install paths are made at install time, from PREFIX and friends as given
# then (a build with one PREFIX can be installed with another).
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g; s|@LIBDIR@|$(LIBDIR)|g; s|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g; s|@SBINDIR@|$(SBINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|/etc/portier\.d|$(SYSCONFDIR)/portier.d|g'

$(B)/portierd: $(B)/obj/src/daemon/main.o $(INTERNAL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(INTERNAL_LIBS) $(WRAP_LIBS) -lm

$(B)/portierctl: $(CTL_OBJS) $(INTERNAL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CTL_OBJS) $(INTERNAL_LIBS) -lm

$(B)/exampled: $(B)/obj/examples/exampled.o $(LIBPORTIER_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(INTERNAL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(INTERNAL_LIBS) $(WRAP_LIBS) -lcmocka -lm

# --- running -------------------------------------------------------------------------------

run: all
	@mkdir -p $(B)/run
	@sed 's|@EXAMPLES@|$(CURDIR)/examples|g' examples/portier.conf > $(B)/run/portier.conf
	$(B)/portierd -dontfork -f $(B)/run/portier.conf -pidfile $(B)/run/portierd.pid

# The example daemon built with libportier, in the foreground.
run-exampled: $(B)/exampled
	@mkdir -p $(B)/run
	$(B)/exampled --foreground -f examples/exampled.conf -p $(B)/run/exampled.pid

check-deps:
	@scripts/deps.sh check

# The unit binaries need cmocka's header: check the packages before building them.
check: check-deps
	@$(MAKE) --no-print-directory all-tests
	@/usr/bin/python3 tests/run.py --build $(B)

.PHONY: all-tests
all-tests: all $(UNIT_BINS)

unit: check-deps
	@$(MAKE) --no-print-directory all-tests
	@/usr/bin/python3 tests/run.py --build $(B) --unit-only

e2e: all
	@/usr/bin/python3 tests/run.py --build $(B) --e2e-only

# --- fuzzing -------------------------------------------------------------------------------

$(B)/fuzz/%: $(B)/obj/fuzz/%.o $(INTERNAL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $< $(INTERNAL_LIBS) $(WRAP_LIBS) -lm

fuzz-build: $(FUZZ_BINS)

fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	@scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS)

# --- installing ----------------------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(INCLUDEDIR)/portier $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/portier.d \
		$(DESTDIR)$(DOCDIR)/contrib/init.d $(DESTDIR)$(DOCDIR)/contrib/fail2ban/filter.d \
		$(DESTDIR)$(DOCDIR)/contrib/fail2ban/jail.d
	install -m 0755 $(B)/portierd $(DESTDIR)$(SBINDIR)/portierd
	install -m 0755 $(B)/portierctl $(DESTDIR)$(SBINDIR)/portierctl
	install -m 0644 $(LIBPORTIER_A) $(DESTDIR)$(LIBDIR)/libportier.a
	install -m 0755 $(LIBPORTIER_SO) $(DESTDIR)$(LIBDIR)/libportier.so.$(SOVERSION)
	ln -sf libportier.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libportier.so
	$(SUBST) contrib/libportier.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libportier.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/libportier.pc
	install -m 0644 include/portier/*.h $(DESTDIR)$(INCLUDEDIR)/portier/
	install -m 0644 man/libportier.3 $(DESTDIR)$(MANDIR)/man3/libportier.3
	install -m 0644 man/portierd.8 $(DESTDIR)$(MANDIR)/man8/portierd.8
	install -m 0644 man/portierctl.8 $(DESTDIR)$(MANDIR)/man8/portierctl.8
	install -m 0644 man/portier.conf.5 $(DESTDIR)$(MANDIR)/man5/portier.conf.5
	$(SUBST) contrib/portierd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/portierd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/portierd.service
	install -m 0755 contrib/init.d/portierd $(DESTDIR)$(DOCDIR)/contrib/init.d/portierd
	install -m 0644 contrib/fail2ban/filter.d/portierd.conf \
		$(DESTDIR)$(DOCDIR)/contrib/fail2ban/filter.d/portierd.conf
	install -m 0644 contrib/fail2ban/jail.d/portierd.conf \
		$(DESTDIR)$(DOCDIR)/contrib/fail2ban/jail.d/portierd.conf
	@# The configuration is the administrator's: installed only where there is none yet.
	@test -e $(DESTDIR)$(SYSCONFDIR)/portier.conf || \
		{ $(SUBST) contrib/portier.conf > $(DESTDIR)$(SYSCONFDIR)/portier.conf && \
		  chmod 0644 $(DESTDIR)$(SYSCONFDIR)/portier.conf; }
	@for f in contrib/portier.d/*; do \
		test -e $(DESTDIR)$(SYSCONFDIR)/portier.d/$${f##*/} || \
			install -m 0644 $$f $(DESTDIR)$(SYSCONFDIR)/portier.d/$${f##*/}; \
	done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/portierd $(DESTDIR)$(SBINDIR)/portierctl \
		$(DESTDIR)$(MANDIR)/man8/portierctl.8 $(DESTDIR)$(LIBDIR)/libportier.a \
		$(DESTDIR)$(LIBDIR)/libportier.so $(DESTDIR)$(LIBDIR)/libportier.so.$(SOVERSION) \
		$(DESTDIR)$(PKGCONFIGDIR)/libportier.pc $(DESTDIR)$(MANDIR)/man3/libportier.3 \
		$(DESTDIR)$(MANDIR)/man8/portierd.8 $(DESTDIR)$(MANDIR)/man5/portier.conf.5 \
		$(DESTDIR)$(SYSTEMDUNITDIR)/portierd.service
	rm -rf $(DESTDIR)$(INCLUDEDIR)/portier $(DESTDIR)$(DOCDIR)
	@echo "uninstall: $(SYSCONFDIR)/portier.conf and $(SYSCONFDIR)/portier.d/ are left in place"

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# Further rules live in mk/*.mk (one file per concern, e.g. fuzzing or benchmarks).
-include $(sort $(wildcard mk/*.mk))
