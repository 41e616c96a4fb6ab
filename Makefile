# Thin wrapper: deps -> cmake -> build -> run / test / bench.
# `make` builds; `make run` and `make test` also install what is missing.
BUILD      ?= build
BUILD_SAN  ?= build-sanitize
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all build deps run test test-fast test-sanitize fuzz bench bench-connect bench-turn bench-files clean

all: build

deps:
	scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

run: deps build
	$(BUILD)/webrtc2d

# Every test: unit, fuzz-corpus replay, integration; then the same suite
# again under ASan+UBSan.
test: deps build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	$(MAKE) test-sanitize

test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

test-sanitize:
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DW2_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_SAN) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(BUILD_SAN) --output-on-failure -j$(JOBS)

# libFuzzer binaries (clang); run one with e.g.
#   build-fuzz/fuzz_msg tests/fuzz/corpus/msg -max_total_time=60
fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DW2_FUZZ=ON $(CMAKE_ARGS)
	cmake --build build-fuzz -j$(JOBS)

bench: deps build
	bench/run.sh

# Call set-up time in Chromium, webrtc2 beside PeerJS (docs/benchmarks.md).
bench-connect: deps build
	W2_DAEMON=$(BUILD)/webrtc2d node bench/connect_time.mjs --runs 50

# File transfer in Chromium: raw data channels, sendFile, receiver memory;
# loopback and a shaped 100 Mbit/s, 40 ms link (docs/benchmarks.md, "File transfer").
bench-files: deps build
	W2_DAEMON=$(BUILD)/webrtc2d node bench/file_transfer.mjs --shaped --video

# TURN relay, webrtc2d beside coturn (docs/benchmarks.md, "TURN relay").
bench-turn: deps
	bench/turn_bench.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz
