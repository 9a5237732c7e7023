# rtcache: the two commands a new machine needs are `make demo` and `make test`.
# Both install missing Debian build dependencies first (apt-get, only when missing).

BUILD     ?= build
JOBS      ?= $(shell nproc)
CMAKE     ?= cmake
CTEST_ARGS ?=
# WERROR=ON turns warnings into errors (CI sets it).
WERROR    ?= OFF
DEB_PACKAGES := g++ cmake make pkg-config libzstd-dev libxxhash-dev libgtest-dev libgmock-dev \
                libbenchmark-dev ninja-build libcli11-dev nlohmann-json3-dev
DEB_PACKAGES += pybind11-dev python3-dev python3-pytest

.PHONY: all deps configure build test demo bench asan tsan test-sanitizers format lint clean fuzz soak

all: build

# Installs the Debian packages in $(1) that are missing (apt-get, only then).
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTCACHE_WERROR=$(WERROR) $(CMAKE_ARGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	$(CMAKE) --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)

# The main job: the same program twice, as two processes. The first starts
# from an empty cache and compiles every kernel; the second finds them all.
DEMO_CACHE ?= $(BUILD)/demo/kernels.rtc
demo: build
	@rm -f $(DEMO_CACHE) $(DEMO_CACHE).lock
	@echo "=== run 1: cold (empty cache) ==="
	$(BUILD)/rtcache-demo --cache $(DEMO_CACHE)
	@echo
	@echo "=== run 2: warm (a new process) ==="
	$(BUILD)/rtcache-demo --cache $(DEMO_CACHE)

# Benchmarks: regenerates docs/benchmarks.md. Installs the bench-only Debian
# packages when missing (the peers SQLite and LMDB, Google Benchmark), then
# bench/run.sh builds only the benchmark targets, makes the corpus and runs.
BENCH_DEB_PACKAGES := libsqlite3-dev liblmdb-dev libbenchmark-dev
bench: export RTCACHE_BENCH_START := $(shell date +%s)
bench:
	$(call install_missing,$(BENCH_DEB_PACKAGES))
	@$(MAKE) --no-print-directory configure
	bash bench/run.sh $(BUILD)

# Sanitizer builds use their own build directories. LeakSanitizer skips
# leaks inside third-party libraries listed in tests/lsan.supp (NVRTC's).
asan: export LSAN_OPTIONS := suppressions=$(CURDIR)/tests/lsan.supp
asan:
	$(MAKE) test BUILD=build-asan CMAKE_ARGS="-DRTCACHE_SANITIZE='address;undefined' -DRTCACHE_BUILD_BENCH=OFF -DRTCACHE_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=Debug"

tsan:
	$(MAKE) test BUILD=build-tsan CMAKE_ARGS="-DRTCACHE_SANITIZE=thread -DRTCACHE_BUILD_BENCH=OFF -DRTCACHE_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=Debug"

test-sanitizers: asan tsan

format:
	clang-format -i $$(git ls-files '*.h' '*.cc' '*.cpp')

# Lint: every file formatted as .clang-format says, and clang-tidy's checks
# (.clang-tidy) clean over the library and the tool. Needs the build's
# compile_commands.json.
LINT_PACKAGES := clang-format clang-tidy
lint: configure
	$(call install_missing,$(LINT_PACKAGES))
	clang-format --dry-run --Werror $$(git ls-files '*.h' '*.cc' '*.cpp')
	git ls-files 'src/*.cc' 'tools/*.cc' | xargs -P $(JOBS) -n 4 clang-tidy -p $(BUILD) --quiet

# Fuzzing (fuzz/README.md): clang's libFuzzer with ASan+UBSan, in its own build
# directory; FUZZ_TIME seconds per target. Installs clang and its runtime when missing.
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZ_PACKAGES := clang libclang-rt-14-dev
fuzz: deps
	$(call install_missing,$(FUZZ_PACKAGES))
	$(CMAKE) -S fuzz -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++
	$(CMAKE) --build $(FUZZ_BUILD) -j $(JOBS)
	bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME)

# The long runs: the `slow` test label (1,000 kills, more writers, the 100 MB
# SIGTERM save) and a longer fuzz (SOAK_FUZZ_TIME seconds per target).
SOAK_FUZZ_TIME ?= 300
soak: build
	cd $(BUILD) && ctest --output-on-failure -L slow $(CTEST_ARGS)
	$(MAKE) fuzz FUZZ_TIME=$(SOAK_FUZZ_TIME)

clean:
	rm -rf build build-asan build-tsan
