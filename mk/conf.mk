# mk/conf.mk — configuration-parser extras (issue 3).
#
#   make fuzz-conf FUZZ_SECONDS=60   build the fuzz targets and run only the config readers
#   make bench-conf                  parse+validate 10,000 services from an includedir

.PHONY: fuzz-conf bench-conf

fuzz-conf:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory FUZZ=1 build/fuzz/fuzz/fuzz-conf build/fuzz/fuzz/fuzz-inetd
	@mkdir -p build/fuzz/conf-only
	@ln -sf ../fuzz/fuzz-conf ../fuzz/fuzz-inetd build/fuzz/conf-only/
	@scripts/fuzz.sh build/fuzz/conf-only $(FUZZ_SECONDS)

bench-conf: $(B)/bench/conf-bench
	@bench/conf-bench.sh $(B)

$(B)/bench/conf-bench: $(B)/obj/bench/conf-bench.o $(LIBCONF_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCONF_A)
