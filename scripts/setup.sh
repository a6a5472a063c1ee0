#!/usr/bin/env bash
# Set up everything the book and the tests need, idempotently: system packages (where apt is usable), a virtual
# environment in .venv with requirements.txt, resnet_lib in editable mode, d2l without its pins, and the offline
# web assets (MathJax). Safe to run twice: a second run with unchanged requirements only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# 1. Python >= 3.11
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || die "no '$PY' on PATH: install Python 3.11 or newer (Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.11+"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$("$PY" -V 2>&1) is too old: resnet_lib needs Python 3.11 or newer (set PYTHON=/path/to/python3.11+)"

# 2. System packages: Fashion-MNIST (real data, offline) and Chromium (browser test). Optional but recommended.
apt_pkgs=()
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || apt_pkgs+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)
command -v npm >/dev/null 2>&1 || apt_pkgs+=(npm)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && SUDO="sudo -n"; }
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
    say "installing Debian packages: ${apt_pkgs[*]}"
    $SUDO apt-get update -qq || say "apt-get update failed; trying the install with the lists already here"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null \
      || say "WARNING: apt-get could not install ${apt_pkgs[*]}; install them by hand (see README)"
  else
    say "WARNING: cannot use apt here; install by hand: sudo apt-get install ${apt_pkgs[*]}"
    say "         (without dataset-fashion-mnist the data is downloaded by torchvision; without chromium the browser test is skipped)"
  fi
fi

# 3. Virtual environment and Python packages (re-installed only when requirements change).
[ -x .venv/bin/python ] || { say "creating .venv with $("$PY" -V 2>&1)"; "$PY" -m venv .venv \
  || die "'$PY -m venv' failed: on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"; }
VPY="$ROOT/.venv/bin/python"
stamp=".setup-stamp-$(cat requirements.txt pyproject.toml | "$VPY" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])')"
if [ ! -f "$stamp" ]; then
  say "installing Python packages into .venv (torch is large: a few minutes on first run)"
  "$VPY" -m pip install -q --upgrade pip
  "$VPY" -m pip install -q -r requirements.txt
  "$VPY" -m pip install -q --no-deps -e .
  # d2l 1.0.3 pins old numpy/torch that do not install on Python >= 3.12: take it without its pins.
  "$VPY" -m pip install -q --no-deps "d2l==1.0.3"
  rm -f .setup-stamp-*; touch "$stamp"
else
  say "Python packages up to date (.venv)"
fi
"$VPY" -c 'import torch, torchvision, resnet_lib, d2l' || die "the environment in .venv is broken: delete .venv and run again"

# 4. Offline web assets for the book (MathJax from the npm registry, never from a CDN).
bash scripts/fetch_assets.sh
say "ready: $("$VPY" -c 'import torch, torchvision; print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")')"
