#!/bin/sh
# ensure-chromium.sh: make a headless-capable Chromium available for the
# status page browser test (relay: TestStatusPageInBrowser); see
# ensure-apt-package.sh for what it does where chromium is missing.
exec sh "$(dirname "$0")/ensure-apt-package.sh" chromium "the status page browser test" chromium chromium-browser
