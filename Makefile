# synthmon: `make run` runs the synthetic suite on the embedded stack; `make test` tests synthmon.
SHELL := /bin/bash
VENV := .venv/bin
RESULTS := .synthmon/results
PYTEST_RUN_ARGS ?=
# make run STACK=containers|compose|processes|auto (default: the suite's own default, auto)
STACK ?=
# the example whose service the suite tests (its synthmon.yaml); its own checks run with the
# generic suite (its checks/ directory, if it has one)
EXAMPLE ?= examples/manager-app
RUN_PREFIX := $(if $(filter containers compose,$(STACK)),scripts/podman.sh run --)

.PHONY: setup run test lint static clean test-tools bench-tools validate

setup:
	@scripts/setup.sh

run: setup
	@mkdir -p $(RESULTS)
	@$(RUN_PREFIX) $(VENV)/pytest checks load slo $(wildcard $(EXAMPLE)/checks) --project $(EXAMPLE)/synthmon.yaml $(if $(STACK),--stack $(STACK)) --junitxml=$(RESULTS)/junit.xml \
		--alluredir=$(RESULTS)/allure-results --clean-alluredir $(PYTEST_RUN_ARGS); \
	status=$$?; \
	echo; \
	if [ $$status -eq 0 ]; then echo "synthmon verdict: PASS"; else echo "synthmon verdict: FAIL (pytest exit $$status)"; fi; \
	echo "results: $(RESULTS)/junit.xml, $(RESULTS)/allure-results; run directories (logs): .synthmon/runs/"; \
	exit $$status

# the example's project file, in seconds and starting nothing (exit 4: one line per problem)
validate: setup
	$(VENV)/synthmon validate $(EXAMPLE)

lint: setup
	$(VENV)/ruff format --check .
	$(VENV)/ruff check .
	$(VENV)/mypy
	$(VENV)/deptry synthmon
	scripts/actionlint.sh examples/pipelines/github/*.yml
	@rm -rf .synthmon/dist && $(VENV)/python -m pip wheel -q --no-deps -w .synthmon/dist . >/dev/null
	$(VENV)/check-wheel-contents .synthmon/dist/synthmon-*.whl

# TEST_ARGS: pytest options of `make test`: two xdist workers (one test file each at a time,
# so a module's stack stays on one worker), e.g. TEST_ARGS="-n 0" for one process; the 25
# slowest tests are listed. Three took 16 min instead of about 20, but the compose runs of the
# examples then missed their delivery deadlines in 2 of 3 runs on two cores (see the notes)
TEST_ARGS ?= -n 2 --dist loadfile --durations=25
test: lint
	@SYNTHMON_STACK=processes SYNTHMON_REQUIRE_CONTAINERS=1 scripts/podman.sh run -- \
		$(VENV)/pytest tests examples/linkcheck/tests -p no:cacheprovider $(TEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "no tests collected" >&2; fi; exit $$status

# What the tests run besides the stack (scripts/packages.txt "test": nginx, openssl), and the
# benches' own needs ("bench": nginx, wrk).
test-tools: setup
	@scripts/apt.sh test
test: test-tools
bench-tools: setup
	@scripts/apt.sh bench

clean:
	rm -rf .synthmon .mypy_cache .ruff_cache .pytest_cache

# The Allure HTML report of the last `make run` (Allure's npm release under .synthmon/tools).
.PHONY: report report-tools
report:
	@scripts/report.sh $(RESULTS)/allure-results

# tests/test_report.py opens the report in Debian's chromium: installed before the tests run.
report-tools:
	@scripts/setup-report.sh >/dev/null
test: report-tools

# The containers backend on these machines: Podman (no Docker engine) and the air-gapped images
# (Debian look-alikes of the official ones + the app's); both idempotent and cached.
.PHONY: containers
containers: setup
	@scripts/podman.sh install
	@images/build.sh
test: containers
run: $(if $(filter containers compose,$(STACK)),containers)

# A pinned Alertmanager (synthmon.yaml versions.alertmanager) built from its Go module with
# /usr/local/go into ~/.cache/synthmon/go, before a run or the tests need it (both would build
# it on demand, ~40 s cold); AM_VERSIONS: the releases (the tests use 0.28.1).
AM_VERSIONS ?= 0.28.1
.PHONY: go-tools
go-tools: setup
	@PATH="$$PATH:/usr/local/go/bin" $(VENV)/python -m synthmon.gobuild $(AM_VERSIONS) toxiproxy jaeger victorialogs
test: go-tools
