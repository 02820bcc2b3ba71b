#!/bin/sh
# ensure-apt-package.sh PACKAGE PURPOSE BINARY [BINARY...]: make one of the
# BINARYs available for the tests that need it (PURPOSE names them).
# Idempotent: does nothing when one is already on PATH. Installs Debian's
# PACKAGE when running as root (as CI does); elsewhere it says how to install
# it and leaves those tests to skip, except under CI=true, where a missing
# binary is an error. ensure-chromium.sh and ensure-redis.sh call it.
set -eu

if [ $# -lt 3 ]; then
	echo "usage: ensure-apt-package.sh PACKAGE PURPOSE BINARY [BINARY...]" >&2
	exit 2
fi
pkg=$1
purpose=$2
shift 2

have() {
	for b in "$@"; do
		if command -v "$b" >/dev/null 2>&1; then
			return 0
		fi
	done
	return 1
}

if have "$@"; then
	exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-$pkg: installing Debian's $pkg package"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "$pkg" >/dev/null
	if have "$@"; then
		exit 0
	fi
	echo "ensure-$pkg: apt-get finished but no $1 binary is on PATH" >&2
	exit 1
fi

msg="ensure-$pkg: $1 not found and cannot be installed here (not root or no apt-get); install it with 'apt-get install $pkg' to run $purpose"
if [ "${CI:-}" = true ]; then
	echo "$msg" >&2
	exit 1
fi
echo "$msg (skipped)" >&2
exit 0
