# Thin wrapper over CMake. `make test` is what CI runs.
BUILD      ?= build
BENCH_DIR  ?= build-bench
FUZZ_DIR   ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 10

.PHONY: all deps build test bench fuzz fuzz-build run package clean format format-check tidy

all: build

# The Debian packages a target needs (scripts/deps.sh): the build set by default; `make run`
# adds mosquitto and curl, `make package` the packaging tools, `make test` every test peer.
# A target's DEPS also holds for its prerequisites (build, then deps).
DEPS ?= build
deps:
	@scripts/deps.sh $(DEPS)

# Tests build with AddressSanitizer and UBSan, compiled by clang: it compiles this tree with
# the sanitizers in about four fifths of GCC's CPU time (docs/testing.md). GCC builds the
# package and the benchmarks, so both compilers keep seeing the code.
build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGRANARY_SANITIZE=ON \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
	cmake --build $(BUILD) -j $(JOBS)

# Every C++ file of the project; formatting is checked by ctest (format) and fixed by `make format`.
SOURCES = $(shell git ls-files '*.cpp' '*.h')

# ctest runs two tests at a time (the "lanes" of tests/lanes.json, tests/CMakeLists.txt) beside
# the package test's niced build. The fuzz targets build and then run beside them too, under
# nice; their figures are printed at the end.
test: DEPS = test
test: build
	@(nice -n 19 $(MAKE) --no-print-directory fuzz-build && \
	  nice -n 19 scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)) > $(BUILD)/fuzz.log 2>&1 & \
	fuzz=$$!; echo "fuzz targets build and run in the background (log: $(BUILD)/fuzz.log)"; \
	rc=0; (cd $(BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 3 \
	    --resource-spec-file $(CURDIR)/tests/lanes.json) || rc=$$?; \
	if ! wait $$fuzz; then tail -100 $(BUILD)/fuzz.log; echo "fuzzing failed"; exit 1; fi; \
	grep -E '^(fuzz: |  fuzz_)' $(BUILD)/fuzz.log; \
	[ $$rc -eq 0 ] || exit $$rc

# Libfuzzer targets, each run for a bounded time; longer runs: make fuzz FUZZ_SECONDS=600
fuzz: fuzz-build
	scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

# OSS-Fuzz's flags: -O1 with line tables only, which compiles 10-20% faster than
# RelWithDebInfo's -O2 -g on the heaviest files and still names file and line in a crash.
fuzz-build: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
	  -DGRANARY_FUZZ=ON -DGRANARY_TESTS=OFF
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzzers

bench: deps
	cmake -S . -B $(BENCH_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRANARY_BENCH=ON -DGRANARY_TESTS=OFF
	cmake --build $(BENCH_DIR) -j $(JOBS)
	bench/run.sh $(BENCH_DIR)

# The demo (scripts/demo.sh): builds, then runs mosquitto, granary-receiver, the EAGLE
# simulator and the agent on loopback, and prints where to look. Ctrl-C stops it.
run: DEPS = demo
run: build
	scripts/demo.sh $(BUILD)

# The granary and granary-receiver .debs, into build-deb/ (packaging/build-deb.sh).
package: DEPS = package
package: deps
	packaging/build-deb.sh build-deb

format: deps
	clang-format -i $(SOURCES)

format-check: deps
	clang-format --dry-run --Werror $(SOURCES)

# clang-tidy with .clang-tidy over the compile database of the test build; minutes, so not
# part of `make test`.
tidy: build
	run-clang-tidy -quiet -p $(BUILD) $(filter %.cpp,$(SOURCES))

clean:
	rm -rf $(BUILD) $(BENCH_DIR) $(FUZZ_DIR)
