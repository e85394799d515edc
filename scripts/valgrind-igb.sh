#!/usr/bin/env bash
# Runs the netrt-igb ring and DMA unit tests under valgrind memcheck.
#
# The tests exercise every unsafe block of the DMA region (mmap, bounds-
# checked copies, atomics on mapped memory, munmap on drop) and the driver's
# rings through the loopback test device. Exits non-zero on any memcheck
# error or leak, or if a test fails.
#
# Usage: scripts/valgrind-igb.sh [extra test filters...]
set -euo pipefail

cd "$(dirname "$0")/.."

# Build the library's test binary and find it in cargo's JSON messages.
bin=$(cargo test -p netrt-igb --lib --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact"
                  and .target.name == "netrt_igb"
                  and .profile.test == true
                  and .executable != null) | .executable' |
    tail -n 1)
if [[ -z "$bin" || ! -x "$bin" ]]; then
    echo "valgrind-igb: could not find the netrt-igb lib test binary" >&2
    exit 2
fi

filters=("$@")
if [[ ${#filters[@]} -eq 0 ]]; then
    # ring_tests, ring index math, DMA region/allocator/pool, hand-off.
    filters=(ring dma handoff)
fi

echo "valgrind-igb: $bin ${filters[*]}" >&2
# One test thread keeps valgrind's serialised scheduler fast and the report
# readable. The 4096-descriptor wrap-around test dominates the run time.
# The suppression file hides exactly one block that libtest itself leaks.
exec valgrind --error-exitcode=1 --leak-check=full \
    --suppressions=scripts/valgrind-igb.supp \
    --quiet "$bin" --test-threads=1 "${filters[@]}"
