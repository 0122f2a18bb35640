#!/bin/sh
# Instructions per call of each sip-parse task, counted by callgrind (see count-parse.ts):
#   sh bench/sip/callgrind.sh [outDir] [task ...]      (outDir: dist by default)
# Each task runs twice at once (n = 1000 and 5000 after the same warm-up); the difference of
# the two totals divided by 4000 is the cost of one call. About a minute per task. The totals
# include GC, which makes them swing by ~10% between runs: for a comparison use
#   FUNCTIONS=1 sh bench/sip/callgrind.sh .hN task
# which prints the cost of each function (JIT code named through node's --perf-basic-prof map,
# see callgrind-functions.ts) and a "core" total without GC and compiler work (n = 2000, 12000).
set -e
out=${1:-dist}
[ $# -gt 0 ] && shift
tasks=${*:-invite-sdp register-auth 200-invite mixed respond floor-invite-sdp floor-respond}
tmp=$(mktemp -d)
total() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --smc-check=all-non-file \
    node --no-concurrent-recompilation "$out/bench/sip/count-parse.js" "$1" "$2" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
# one run writing per-instruction costs and V8's map of its JIT code: $1 task, $2 calls, $3 tag
detailed() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/$3.out" --dump-instr=yes --compress-pos=no --compress-strings=no \
    --smc-check=all-non-file node --no-concurrent-recompilation --perf-basic-prof "$out/bench/sip/count-parse.js" "$1" "$2" >"$tmp/$3.log" 2>&1
  pid=$(sed -n 's/^==\([0-9]*\)==.*/\1/p' "$tmp/$3.log" | head -1)
  mv "/tmp/perf-$pid.map" "$tmp/$3.map"
}
for t in $tasks; do
  if [ -n "$FUNCTIONS" ]; then
    detailed "$t" 2000 a &
    detailed "$t" 12000 b
    wait
    echo "== $t"
    node "$out/bench/sip/callgrind-functions.js" "$tmp/a.out" "$tmp/a.map" "$tmp/b.out" "$tmp/b.map" 10000
  else
    total "$t" 1000 >"$tmp/a" &
    total "$t" 5000 >"$tmp/b"
    wait
    echo "$t $(( ($(cat "$tmp/b") - $(cat "$tmp/a")) / 4000 )) instructions/call"
  fi
done
rm -rf "$tmp"
