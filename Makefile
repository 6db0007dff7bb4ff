# Entry points for Respite. `make test` is what CI runs (.ci/run); `make demo` and `make bench`
# show the proxy working and measure it. Every target that needs tools runs `deps` first, which
# installs only what is missing (scripts/deps.sh).

SWIFT       ?= swift
PYTHON      ?= python3
CONFIG      ?= release
BIN         := .build/$(CONFIG)/respite
# Built next to $(BIN) by `make build`; the demo, the bench and tests/test_maintenance.py find them there.
MAINTSIM    := .build/$(CONFIG)/respite-maintsim
LOAD        := .build/$(CONFIG)/respite-load
BENCH_ARGS  ?=
COMPAT_ARGS ?= --jobs 2
# `make soak` runs an hour; `make test` runs the short variant (SOAK_CI_*), a maintenance event
# every 40 s so at least two happen.
SOAK_SECONDS         ?= 3600
SOAK_MAINT_INTERVAL  ?= 60
SOAK_ARGS            ?=
SOAK_CI_SECONDS      ?= 150
SOAK_CI_MAINT_INTERVAL ?= 40
# `make fuzz` runs each libFuzzer target (Fuzz/) for FUZZ_SECONDS; `make test` for
# FUZZ_CI_SECONDS. `make asan` / `make tsan` run the full sanitizer sets, `make test` the quick
# ones (SANITIZE_CI_SCOPE); see docs/reliability.md, "Fuzzing" and "Sanitizers".
FUZZ_SECONDS         ?= 60
FUZZ_CI_SECONDS      ?= 10
SANITIZE_CI_SCOPE    ?= quick

.PHONY: all deps build test unit-test blackbox-test soak compat compat-baseline demo bench fuzz asan tsan clean help

all: build

help:
	@echo "make deps    install missing Debian/Python dependencies (idempotent)"
	@echo "make build   swift build -c $(CONFIG): $(BIN), $(MAINTSIM), $(LOAD)"
	@echo "make test    deps + build + swift test + pytest black-box suite + fuzz smoke + short soak"
	@echo "             + make compat + quick ASan/LSan and TSan runs"
	@echo "make fuzz    every libFuzzer target (Fuzz/) for FUZZ_SECONDS (60) each; a crash keeps"
	@echo "             its reproducer in .build-fuzz/artifacts/<target>/"
	@echo "make asan    respite + respite-maintsim + swift test under AddressSanitizer/LeakSanitizer"
	@echo "             (.build-asan), then the whole black-box suite against them"
	@echo "make tsan    the same under ThreadSanitizer (.build-tsan): simulator, maintenance, upstream tests"
	@echo "make compat  Redis's own TCL suite through Respite, RESP2 and RESP3, against the"
	@echo "             committed direct baseline (tests/compat/), both protocols side by side; COMPAT_ARGS='--unit unit/multi'"
	@echo "make soak    deps + build + an hour (SOAK_SECONDS) of mixed load, maintenance every"
	@echo "             SOAK_MAINT_INTERVAL s and hostile clients one at a time; see docs/reliability.md"
	@echo "make demo    deps + build + Respite in front of respite-maintsim, respite-load through a"
	@echo "             bind, a migrate and a failover; checks every acknowledged write (< 1 min)"
	@echo "make bench   deps + build + direct vs twemproxy vs Respite, and the stall through a bind"
	@echo "             (BENCH_ARGS='--rounds 5', '--no-maint', '--respite-before OLD_BINARY')"
	@echo "make clean   remove build products"

deps:
	@bash scripts/deps.sh

# Every product: respite, respite-maintsim, respite-load.
build:
	$(SWIFT) build -c $(CONFIG)

# Unit tests, the black-box suite against the release binary (tests/test_maintenance.py finds
# respite-maintsim next to it), every fuzz target for FUZZ_CI_SECONDS, the short soak, the
# compatibility suite, then the quick ASan/LeakSanitizer and TSan runs (their own builds, ~6 min
# together with the fuzzing on 2 idle cores). All always run, so CI shows every failure; the
# target fails if any does.
test: deps build
	@rc=0; \
	echo "$(SWIFT) test"; $(SWIFT) test || rc=1; \
	echo "RESPITE_BIN=$(CURDIR)/$(BIN) $(PYTHON) -m pytest tests -q"; \
	RESPITE_BIN=$(CURDIR)/$(BIN) $(PYTHON) -m pytest tests -q || rc=1; \
	echo "FUZZ_SECONDS=$(FUZZ_CI_SECONDS) bash Fuzz/run.sh"; \
	FUZZ_SECONDS=$(FUZZ_CI_SECONDS) bash Fuzz/run.sh || rc=1; \
	echo "$(PYTHON) scripts/soak.py --seconds $(SOAK_CI_SECONDS) --maint-interval $(SOAK_CI_MAINT_INTERVAL)"; \
	$(PYTHON) scripts/soak.py --respite $(BIN) --seconds $(SOAK_CI_SECONDS) \
		--maint-interval $(SOAK_CI_MAINT_INTERVAL) || rc=1; \
	echo "$(PYTHON) scripts/compat.py --respite $(BIN) $(COMPAT_ARGS)"; \
	$(PYTHON) scripts/compat.py --respite $(BIN) $(COMPAT_ARGS) || rc=1; \
	echo "bash scripts/sanitize.sh asan $(SANITIZE_CI_SCOPE)"; \
	bash scripts/sanitize.sh asan $(SANITIZE_CI_SCOPE) || rc=1; \
	echo "bash scripts/sanitize.sh tsan $(SANITIZE_CI_SCOPE)"; \
	bash scripts/sanitize.sh tsan $(SANITIZE_CI_SCOPE) || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see above)" >&2; fi; \
	exit $$rc

unit-test:
	$(SWIFT) test

blackbox-test: build
	RESPITE_BIN=$(CURDIR)/$(BIN) $(PYTHON) -m pytest tests -q

# One client can never hurt another, held for SOAK_SECONDS (docs/reliability.md, "Soak").
soak: deps build
	$(PYTHON) scripts/soak.py --respite $(BIN) --seconds $(SOAK_SECONDS) \
		--maint-interval $(SOAK_MAINT_INTERVAL) $(SOAK_ARGS)

# Redis's own test suite (from Debian's source package of the installed redis-server) through
# Respite in both protocols, compared with the committed baseline; see docs/compatibility.md.
compat: deps build
	$(PYTHON) scripts/compat.py --respite $(BIN) $(COMPAT_ARGS)

# Re-make the baseline: the same suite directly against redis-server.
compat-baseline: deps
	$(PYTHON) scripts/compat.py --direct --write-baseline $(COMPAT_ARGS)

# Coverage-guided fuzzing of the untrusted-input code (docs/reliability.md, "Fuzzing").
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash Fuzz/run.sh

# Sanitizer builds and the tests that matter under them (docs/reliability.md, "Sanitizers").
asan: deps
	bash scripts/sanitize.sh asan full

tsan: deps
	bash scripts/sanitize.sh tsan full

demo: deps build
	RESPITE_BIN=$(CURDIR)/$(BIN) bash scripts/demo.sh

bench: deps build
	$(PYTHON) scripts/bench.py --respite $(BIN) $(BENCH_ARGS)

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan .pytest_cache tests/__pycache__ scripts/__pycache__
