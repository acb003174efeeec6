# bench.mk — `make bench`: the spawn-path and scale benchmark (bench/README.md).
#
#   make bench                      install xinetd/ucspi-tcp if missing (root), build, run
#   make bench BENCH_ARGS='--seconds 2 --rounds 15'  options of bench/run.py (--help)
#   make bench-build                only build the bench programs into $(B)/bench/
#   make bench-access               refusals and isolation under a flood (bench/access.py)
#
# The harness measures whatever $(B)/portierd can do: if portierd does not build, or cannot
# serve yet, its rows print "n/a (reason)" and the others are still measured.

BENCH_ARGS ?=
BENCH_CFLAGS = $(filter-out -MMD -MP,$(ALL_CFLAGS))
BENCH_BINS := $(B)/bench/loadgen $(B)/bench/limitref $(B)/bench/tinyserver

ACCESS_ARGS ?=

.PHONY: bench bench-build bench-access

bench-build: $(BENCH_BINS)

$(B)/bench/loadgen $(B)/bench/limitref: $(B)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BENCH_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

# Static, so that exec costs no dynamic loading; falls back to dynamic without libc.a.
$(B)/bench/tinyserver: bench/tinyserver.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BENCH_CFLAGS) -static -o $@ $< 2>/dev/null || \
		$(CC) $(CPPFLAGS) $(BENCH_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

# Without root, deps.sh prints the apt-get line for what is missing; the run goes on and the
# missing anchors' rows print n/a.
bench:
	@scripts/deps.sh bench || echo "bench: going on without them; their rows will be n/a" >&2
	@$(MAKE) --no-print-directory bench-build
	@$(MAKE) --no-print-directory $(B)/portierd || \
		echo "bench: $(B)/portierd does not build; its rows will be n/a" >&2
	@/usr/bin/python3 bench/run.py --build $(B) $(BENCH_ARGS)

bench-access:
	@scripts/deps.sh bench || echo "bench: going on without them; their rows will be n/a" >&2
	@$(MAKE) --no-print-directory bench-build $(B)/portierd
	@/usr/bin/python3 bench/access.py --build $(B) $(ACCESS_ARGS)
