#!/bin/sh
# ensure-strace.sh: make strace available for the seccomp profile test
# (cmd/spectra-server: TestSeccompProfile traces the server's system calls
# and checks deploy/seccomp-io_uring.json allows each); see
# ensure-apt-package.sh for what it does where strace is missing.
exec sh "$(dirname "$0")/ensure-apt-package.sh" strace "the seccomp profile test" strace
