#!/usr/bin/env bash
# Install minik on a Debian/Ubuntu host: a venv in /opt/minik, `minik` on PATH, the systemd unit.
#   sudo scripts/install.sh          then: sudo minik server   (or: sudo systemctl enable --now minik)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo scripts/install.sh)" >&2
  exit 1
fi
PREFIX=${MINIK_PREFIX:-/opt/minik}

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install.sh: minik needs Python 3.11 or newer" >&2
  exit 1
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
[ -x "$PREFIX/bin/python" ] || python3 -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install -q --upgrade pip >/dev/null
"$PREFIX/bin/python" -m pip install -q .
ln -sf "$PREFIX/bin/minik" /usr/local/bin/minik
if [ -d /etc/systemd/system ]; then
  install -m 0644 systemd/minik.service /etc/systemd/system/minik.service
  command -v systemctl >/dev/null && systemctl daemon-reload 2>/dev/null || true
fi
echo "minik $(/usr/local/bin/minik version | awk '{print $3}') installed in $PREFIX."
echo "Start it:  sudo minik server        (or as a service: sudo systemctl enable --now minik)"
echo "Then:      kubectl --kubeconfig /etc/minik/minik.yaml get nodes"
