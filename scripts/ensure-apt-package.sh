#!/bin/sh
# ensure-apt-package.sh PACKAGE PURPOSE BINARY [BINARY...]: make one of the
# BINARYs available for the tests that need it (PURPOSE names them), the one
# installer behind `make test-deps` (ensure-chromium.sh and ensure-redis.sh
# name the package and binaries).
#
# Does nothing when one of the BINARYs is already on PATH. Otherwise installs
# Debian's PACKAGE with apt-get: directly as root (as in CI and containers),
# through sudo as a user who has it (sudo may ask for the password). Anywhere
# else (no apt-get, neither root nor sudo, or the install fails) it exits 1
# with a line saying what to install; `go test` run by hand still skips those
# tests unless CI=true.
set -eu

if [ $# -lt 3 ]; then
	echo "usage: ensure-apt-package.sh PACKAGE PURPOSE BINARY [BINARY...]" >&2
	exit 2
fi
pkg=$1
purpose=$2
shift 2
bin=$1

have() {
	for b in "$@"; do
		if command -v "$b" >/dev/null 2>&1; then
			return 0
		fi
	done
	return 1
}

fail() {
	echo "ensure-$pkg: $*; install Debian's $pkg package (or one with a $bin binary) to run $purpose" >&2
	exit 1
}

if have "$@"; then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	fail "no $bin on PATH and no apt-get to install it with"
fi
if [ "$(id -u)" = 0 ]; then
	as_root=""
elif command -v sudo >/dev/null 2>&1; then
	as_root="sudo"
else
	fail "no $bin on PATH, and neither root nor sudo to run apt-get as"
fi

echo "ensure-$pkg: installing Debian's $pkg package${as_root:+ with sudo} for $purpose"
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
	fail "apt-get update failed"
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null ||
	fail "apt-get install $pkg failed"
if ! have "$@"; then
	fail "apt-get installed $pkg but no $bin is on PATH"
fi
