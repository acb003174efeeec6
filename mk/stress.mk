# stress.mk — `make stress`: the long versions of the fault and load tests
# (tests/e2e/test_stress_*.py; `make check` runs their short versions).
#
#   make stress                  100,000 connections in the leak check, larger floods;
#                                each test still bounded (30 minutes at most)
#   make stress SANITIZE=1       the same against the ASan+UBSan build (no memory bound)
#   make stress STRESS_ARGS='-k leak'   more pytest arguments (select tests, -x, ...)
#   make stress-valgrind         only the valgrind leak check of a short run (~1 minute)

STRESS_ARGS ?=
STRESS_PYTEST = PORTIER_BUILD=$(abspath $(B)) PYTHONDONTWRITEBYTECODE=1 \
	/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs

.PHONY: stress stress-valgrind

stress: all
	@PORTIER_STRESS=1 $(STRESS_PYTEST) -s $(wildcard tests/e2e/test_stress_*.py) $(STRESS_ARGS)

stress-valgrind: all
	@$(STRESS_PYTEST) tests/e2e/test_stress_valgrind.py $(STRESS_ARGS)
