# rtcache: the two commands a new machine needs are `make demo` and `make test`.
# Both install missing Debian build dependencies first (apt-get, only when missing).

BUILD     ?= build
JOBS      ?= $(shell nproc)
CMAKE     ?= cmake
CTEST_ARGS ?=
DEB_PACKAGES := g++ cmake make pkg-config libzstd-dev libxxhash-dev libgtest-dev libgmock-dev \
                libbenchmark-dev ninja-build

.PHONY: all deps configure build test demo bench asan tsan test-sanitizers format clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	$(CMAKE) --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)

demo: build
	@echo "The cold-versus-warm NVRTC demo is coming with the JIT engine."
	@echo "Meanwhile: $(BUILD)/tests/ holds the test programs; see README.md."

bench: build
	bash bench/run.sh $(BUILD)

# Sanitizer builds use their own build directories.
asan:
	$(MAKE) test BUILD=build-asan CMAKE_ARGS="-DRTCACHE_SANITIZE='address;undefined' -DRTCACHE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug"

tsan:
	$(MAKE) test BUILD=build-tsan CMAKE_ARGS="-DRTCACHE_SANITIZE=thread -DRTCACHE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug"

test-sanitizers: asan tsan

format:
	clang-format -i $$(git ls-files '*.h' '*.cc' '*.cpp')

clean:
	rm -rf build build-asan build-tsan
