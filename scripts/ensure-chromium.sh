#!/bin/sh
# ensure-chromium.sh: make a headless-capable Chromium available for the
# status page browser test (relay: TestStatusPageInBrowser). Idempotent: does
# nothing when a chromium binary is already on PATH. Installs Debian's
# `chromium` package when running as root (as CI does); elsewhere it says how
# to install it and leaves the test to skip, except under CI=true, where a
# missing browser is an error.
set -eu

have() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }

if have; then
	exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-chromium: installing Debian's chromium package"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq chromium >/dev/null
	if have; then
		exit 0
	fi
	echo "ensure-chromium: apt-get finished but no chromium binary is on PATH" >&2
	exit 1
fi

msg="ensure-chromium: chromium not found and cannot be installed here (not root or no apt-get); install it with 'apt-get install chromium' to run the status page browser test"
if [ "${CI:-}" = true ]; then
	echo "$msg" >&2
	exit 1
fi
echo "$msg (the test is skipped)" >&2
exit 0
