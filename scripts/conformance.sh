#!/bin/sh
# Runs the official engine.io-protocol and socket.io-protocol test suites
# against cmd/conformance, first over http/ws, then over https/wss.
# Usage: scripts/conformance.sh SUITES BIN
#   SUITES holds <repo>/test-suite folders with their npm packages installed;
#   BIN is the built cmd/conformance.
# The suites name their server as the constant http://localhost:3000; the
# TLS pass runs a copy of each suite file with that constant turned into
# https://localhost:3443 and trusts the server's self-signed certificate
# through NODE_EXTRA_CA_CERTS (the suite files themselves stay untouched).
set -eu
suites=$1
bin=$2
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$work"
	rm -f "$suites"/engine.io-protocol/test-suite/.tls-test-suite.js "$suites"/socket.io-protocol/test-suite/.tls-test-suite.js
}
trap cleanup EXIT INT TERM

start() { # start ADDR [FLAGS...]: runs the server until its listening line, at most 10 s
	addr=$1
	shift
	"$bin" -addr "$addr" "$@" >"$work/server.out" 2>&1 &
	pid=$!
	i=0
	while ! grep -q '^listening' "$work/server.out"; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "conformance server did not start:" >&2
			cat "$work/server.out" >&2
			exit 1
		fi
		sleep 0.05
	done
}

stop() {
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
}

echo "== http:// and ws://"
start 127.0.0.1:3000
for repo in engine.io-protocol socket.io-protocol; do
	(cd "$suites/$repo/test-suite" && npx mocha test-suite.js)
done
stop

echo "== https:// and wss:// (TLS fast path)"
start 127.0.0.1:3443 -tls-dir "$work/tls"
for repo in engine.io-protocol socket.io-protocol; do
	dir=$suites/$repo/test-suite
	grep -q '^const URL = "http://localhost:3000";' "$dir/test-suite.js" || {
		echo "$dir/test-suite.js no longer names its server as const URL = \"http://localhost:3000\"" >&2
		exit 1
	}
	sed 's#^const URL = "http://localhost:3000";#const URL = "https://localhost:3443";#' "$dir/test-suite.js" >"$dir/.tls-test-suite.js"
	(cd "$dir" && NODE_EXTRA_CA_CERTS="$work/tls/server.crt" npx mocha .tls-test-suite.js)
done
stop
