#!/usr/bin/env bash
# The whole test suite from a clean clone: makes its own venv, installs what the tests need, runs pytest.
#   scripts/test.sh [pytest args...]        (as root on Debian/Ubuntu; Debian packages need root)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use. kubectl is not packaged by Debian: tests that drive it use the binaries on
# PATH (kubectl, and kubectl.1.NN beside its real file) and say so when they skip.
DEB_PACKAGES=(python3-venv sqlite3)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: need root to install Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

VENV=${MINIK_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[test]'

# pytest exits 5 when it collected no tests; that is not a failure of the suite.
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
[ $status -eq 5 ] && status=0
exit $status
