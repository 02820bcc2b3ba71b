#!/bin/sh
# ensure-redis.sh: make redis-server available for the cluster tests
# (relay/cluster and relay: TestCluster*); see ensure-apt-package.sh for what
# it does where redis-server is missing. The tests start their own
# redis-server on a free port in a temporary folder; the package's system
# service is not used.
exec sh "$(dirname "$0")/ensure-apt-package.sh" redis-server "the cluster tests" redis-server
