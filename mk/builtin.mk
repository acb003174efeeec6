# mk/builtin.mk — the built-ins and tcpmux (issue 6).
#
#   make fuzz-tcpmux FUZZ_SECONDS=60   build the fuzz targets and run only fuzz-tcpmux
#   make bench-builtin                 echo/UDP/idle figures: portierd, xinetd, a plain server
#
# fuzz-tcpmux is also run by `make fuzz` (and so by .ci/run) with every other target.

.PHONY: fuzz-tcpmux bench-builtin

fuzz-tcpmux:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory FUZZ=1 build/fuzz/fuzz/fuzz-tcpmux
	@mkdir -p build/fuzz/tcpmux-only
	@ln -sf ../fuzz/fuzz-tcpmux build/fuzz/tcpmux-only/
	@scripts/fuzz.sh build/fuzz/tcpmux-only $(FUZZ_SECONDS)

bench-builtin: all $(B)/bench/echobench
	@scripts/deps.sh bench || echo "bench: going on without xinetd; its rows will be n/a" >&2
	@/usr/bin/python3 bench/builtin.py --build $(B) $(BENCH_ARGS)

$(B)/bench/echobench: bench/echobench.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BENCH_CFLAGS) $(ALL_LDFLAGS) -o $@ $<
