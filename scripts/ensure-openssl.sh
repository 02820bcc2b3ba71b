#!/bin/sh
# ensure-openssl.sh: make the openssl command available for the TLS
# KeyUpdate test (engineio: TestTLSFastPathKeyUpdate drives a real
# `openssl s_client`); see ensure-apt-package.sh for what it does where
# openssl is missing.
exec sh "$(dirname "$0")/ensure-apt-package.sh" openssl "the TLS KeyUpdate test" openssl
