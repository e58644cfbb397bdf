#!/usr/bin/env bash
# Install what the project needs on a fresh Debian machine: the ARM toolchain,
# QEMU and valgrind from Debian, and the Python package with its test extras
# in .venv. Safe to run again; it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# prometheus, prometheus-pushgateway: promtool and the real servers tests/observability/ runs
# on loopback (on a host with systemd the packages also start their services)
APT_PACKAGES=(make gcc libc6-dev gcc-arm-none-eabi picolibc-arm-none-eabi qemu-system-arm valgrind python3-venv
	prometheus prometheus-pushgateway)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing Debian packages: ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
	echo "setup: creating .venv"
	"$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import hil_service, pytest, hypothesis, sklearn" >/dev/null 2>&1 \
	|| [ pyproject.toml -nt .venv/.installed ]; then
	echo "setup: installing hil-service and its test dependencies into .venv"
	.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch .venv/.installed
fi
