#!/usr/bin/env bash
# Make Debian's chromium available for the browser tests of the web chat page
# (tests/integration/test_web.py drive it with Playwright for Python). Nothing happens when
# /usr/bin/chromium exists. Playwright's own browser download (`playwright install`) is not
# used: the tests launch this system chromium through `executable_path`.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then exit 0; fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-browser: installing chromium from apt" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
/usr/bin/chromium --version >&2
