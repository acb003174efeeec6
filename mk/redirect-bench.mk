# redirect-bench.mk — `make bench-redirect`: the redirect proxy next to a direct connection
# and xinetd's redirect (bench/redirect.py, bench/README.md "Redirect").
#
#   make bench-redirect
#   make bench-redirect REDIRECT_BENCH_ARGS='--bytes 256M --idle 2000'

REDIRECT_BENCH_ARGS ?=

.PHONY: bench-redirect

$(B)/bench/rbench: bench/rbench.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BENCH_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

bench-redirect:
	@$(MAKE) --no-print-directory $(B)/bench/rbench $(B)/bench/loadgen $(B)/portierd
	@/usr/bin/python3 bench/redirect.py --build $(B) $(REDIRECT_BENCH_ARGS)
