#!/bin/sh
# Instructions per call of each sip-parse task, counted by callgrind (see count-parse.ts):
#   sh bench/sip/callgrind.sh [outDir] [task ...]      (outDir: dist by default)
# Each task runs twice at once (n = 1000 and 5000 after the same warm-up); the difference of
# the two totals divided by 4000 is the cost of one call. About a minute per task.
set -e
out=${1:-dist}
[ $# -gt 0 ] && shift
tasks=${*:-invite-sdp register-auth 200-invite respond floor-invite-sdp}
total() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --smc-check=all-non-file \
    node --no-concurrent-recompilation "$out/bench/sip/count-parse.js" "$1" "$2" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for t in $tasks; do
  total "$t" 1000 >/tmp/callgrind-$$-a &
  total "$t" 5000 >/tmp/callgrind-$$-b
  wait
  a=$(cat /tmp/callgrind-$$-a)
  b=$(cat /tmp/callgrind-$$-b)
  rm -f /tmp/callgrind-$$-a /tmp/callgrind-$$-b
  echo "$t $(( (b - a) / 4000 )) instructions/call"
done
