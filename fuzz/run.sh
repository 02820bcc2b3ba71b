#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each, FUZZJOBS at a
# time, and prints one summary line per target (exec count, result).
# Used by `make fuzz`; each target's full output goes to $FUZZLOGS.
set -uo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZJOBS=${FUZZJOBS:-1}
FUZZLOGS=${FUZZLOGS:-$(mktemp -d -t spectra-fuzz.XXXXXX)}
mkdir -p "$FUZZLOGS"
cd "$(dirname "$0")/.."

targets=()
for pkg in $($GO list ./...); do
	for t in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		targets+=("$pkg $t")
	done
done
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each, $FUZZJOBS at a time; logs in $FUZZLOGS"

# With several targets at once each gets one worker, so they share the
# cores instead of oversubscribing them.
par=""
[ "$FUZZJOBS" -gt 1 ] && par="-parallel 1"

one() {
	local pkg=$1 t=$2 log
	log="$FUZZLOGS/$(echo "$pkg" | tr / _)-$t.log"
	if $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" $par "$pkg" >"$log" 2>&1; then
		echo "ok   $pkg $t: $(grep -o 'elapsed: [^,]*, execs: [0-9]*' "$log" | tail -1)"
	else
		echo "FAIL $pkg $t (see $log; the failing input is under $pkg's testdata/fuzz/$t: commit it)"
		return 1
	fi
}
export -f one
export GO FUZZTIME FUZZLOGS par

printf '%s\n' "${targets[@]}" | xargs -P "$FUZZJOBS" -L 1 bash -c 'one "$0" "$1"'
