#!/bin/sh
# ensure-redis.sh: make redis-server available for the cluster tests
# (relay/cluster and relay: TestCluster*). Idempotent: does nothing when
# redis-server is already on PATH. Installs Debian's `redis-server` package
# when running as root (as CI does); elsewhere it says how to install it and
# leaves the tests to skip, except under CI=true, where a missing
# redis-server is an error. The tests start their own redis-server on a
# free port in a temporary folder; the package's system service is not used.
set -eu

have() { command -v redis-server >/dev/null 2>&1; }

if have; then
	exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-redis: installing Debian's redis-server package"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq redis-server >/dev/null
	if have; then
		exit 0
	fi
	echo "ensure-redis: apt-get finished but no redis-server binary is on PATH" >&2
	exit 1
fi

msg="ensure-redis: redis-server not found and cannot be installed here (not root or no apt-get); install it with 'apt-get install redis-server' to run the cluster tests"
if [ "${CI:-}" = true ]; then
	echo "$msg" >&2
	exit 1
fi
echo "$msg (the tests are skipped)" >&2
exit 0
