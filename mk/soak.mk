# soak.mk — `make soak`: portierd under a long mixed workload (bench/soak.py, bench/README.md
# "Soak"): exec'd servers, built-ins over TCP and UDP, a redirect, refusals, a wait = yes UDP
# server, reloads and status requests, for 10 minutes; throughput, errors, and the daemon's
# descriptor and memory curves. Exits non-zero on an unexpected error or a leak.
#
#   make soak                             10 minutes
#   make soak SOAK_ARGS='--minutes 1'     a quick run
#   make soak SOAK_ARGS='--help'          every option

SOAK_ARGS ?=

.PHONY: soak

soak:
	@$(MAKE) --no-print-directory all bench-build $(B)/bench/echobench $(B)/bench/rbench
	@/usr/bin/python3 bench/soak.py --build $(B) $(SOAK_ARGS)
