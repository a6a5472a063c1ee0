#!/usr/bin/env bash
# The library's tests and two chapters, in two environments besides .venv (see README → "Tested environments"):
#   colab  .venv-colab  Python 3.13 with Colab's versions (torch 2.11, torchvision 0.26, numpy 2.1, matplotlib 3.10,
#                       ipykernel 6.17); the rest of requirements.txt at whatever pip resolves
#   min    .venv-min    Python 3.11 with the lowest versions requirements.txt / pyproject.toml allow
# Usage: bash scripts/test_envs.sh [--install-only] [colab] [min]      (default: both environments, install + test)
# Idempotent: each environment keeps a stamp of what it was installed from; a second run re-installs nothing unless
# requirements.txt, pyproject.toml or the pins below changed. NOT part of scripts/test.sh (downloads ~3 GB per env).
# Logs: test-artifacts/test_envs/<env>-{install,library,chapters}.log. Exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
say() { printf '[test_envs] %s\n' "$*"; }
die() { printf '[test_envs] ERROR: %s\n' "$*" >&2; exit 1; }

# Pins per environment (pip constraints, one per line). Python: $PYTHON_COLAB / $PYTHON_MIN override.
COLAB_PY=${PYTHON_COLAB:-/root/.pyenv/versions/3.13.0/bin/python3}
COLAB_PINS="torch==2.11.*
torchvision==0.26.*
numpy==2.1.*
matplotlib==3.10.*
ipykernel==6.17.*"
MIN_PY=${PYTHON_MIN:-/root/.pyenv/versions/3.11.7/bin/python3}
# = requirements.txt's lower bounds (torchmetrics 1.3 lacks zero_division=, used by metrics.evaluate: bound now 1.4)
MIN_PINS="torch==2.4.*
torchvision==0.19.*
numpy==1.26.*
matplotlib==3.8.*
tqdm==4.66.*
scikit-learn==1.4.*
torchmetrics==1.4.*
pandas==2.1.*
scipy==1.11.*
ipykernel==6.29.*"
# The chapters the environments execute (quick profile): the preface and the family table, which use every layer of
# the library without chapter 2/3's training runs.
CHAPTERS=(chapters/01_preface.ipynb chapters/04_blocks_and_family.ipynb)

install_only=0
envs=()
for a in "$@"; do
  case "$a" in
    --install-only) install_only=1 ;;
    colab|min) envs+=("$a") ;;
    *) die "unknown argument '$a' (allowed: --install-only, colab, min)" ;;
  esac
done
[ ${#envs[@]} -gt 0 ] || envs=(colab min)
LOGS="$ROOT/test-artifacts/test_envs"
mkdir -p "$LOGS"

# install ENV_DIR PYTHON PINS: create the venv and install into it, unless its stamp says it is up to date.
install() {
  local dir=$1 py=$2 pins=$3 name=$4
  command -v "$py" >/dev/null || die "no Python '$py' for $name (set PYTHON_${name^^})"
  local hash
  hash=$({ "$py" -V; printf '%s\n' "$pins"; cat requirements.txt pyproject.toml; } 2>&1 | sha256sum | cut -c1-16)
  if [ -f "$dir/.test-envs-stamp-$hash" ] && "$dir/bin/python" -c 'import torch, resnet_lib, d2l' 2>/dev/null; then
    say "$name: packages up to date ($dir)"; return
  fi
  [ -x "$dir/bin/python" ] || { say "$name: creating $dir with $("$py" -V 2>&1)"; "$py" -m venv "$dir"; }
  say "$name: installing into $dir (torch with its CUDA libraries: a few GB on the first run; log: $LOGS/$name-install.log)"
  local vpy="$ROOT/$dir/bin/python" reqs="$ROOT/$dir/requirements-pinned.txt"
  # requirements.txt with this environment's pins in place of the same packages' lines (Colab's ipykernel 6.17 is
  # below the book's ipykernel>=6.29), and setuptools>=77 so that tests/test_packaging.py can build the wheel
  # offline (pyproject's build requirement) instead of skipping.
  { printf '%s\n' "$pins"
    grep -vE "^($(printf '%s\n' "$pins" | sed -E 's/[=<>!~ ].*//' | paste -sd'|'))([=<>!~ ]|$)" requirements.txt
    echo "setuptools>=77"; } >"$reqs"
  { "$vpy" -m pip install -q --upgrade pip \
    && "$vpy" -m pip install -q -r "$reqs" \
    && "$vpy" -m pip install -q --no-deps -e . \
    && "$vpy" -m pip install -q --no-deps "d2l==1.0.3" \
    && { "$vpy" -m pip check || true; }   # recorded in the log: what pip resolved around the pins
  } >"$LOGS/$name-install.log" 2>&1 || { tail -30 "$LOGS/$name-install.log" >&2; die "$name: install failed"; }
  rm -f "$dir"/.test-envs-stamp-*; touch "$dir/.test-envs-stamp-$hash"
}

# counts LOG: "3 passed, 1 skipped" from pytest's last summary line
counts() { grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped)|(passed|failed|error)s? in [0-9.]+s' "$1" | tail -1 \
           | sed -E 's/^=+ //; s/ in [0-9.]+s.*//; s/ =+$//'; }

declare -a summary
status=0
for name in "${envs[@]}"; do
  case "$name" in
    colab) dir=.venv-colab py=$COLAB_PY pins=$COLAB_PINS ;;
    min)   dir=.venv-min   py=$MIN_PY   pins=$MIN_PINS ;;
  esac
  t=$SECONDS
  install "$dir" "$py" "$pins" "$name"
  t_install=$((SECONDS - t))
  [ "$install_only" -eq 0 ] || continue
  vpy="$ROOT/$dir/bin/python"
  versions=$("$vpy" -c 'import sys, torch, torchvision, numpy, matplotlib, ipykernel
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"numpy {numpy.__version__}, matplotlib {matplotlib.__version__}, ipykernel {ipykernel.__version__}")')
  say "$name: $versions"
  rc=0
  t=$SECONDS
  say "$name: library tests (log: $LOGS/$name-library.log)"
  ( export PATH="$ROOT/$dir/bin:$PATH" PYTHONHASHSEED=0
    "$vpy" -m pytest tests -m "not browser" -q -p no:cacheprovider --timeout 900 ) >"$LOGS/$name-library.log" 2>&1 \
    || rc=1
  t_lib=$((SECONDS - t)); c_lib=$(counts "$LOGS/$name-library.log")
  t=$SECONDS
  say "$name: chapters under nbval, quick profile (log: $LOGS/$name-chapters.log)"
  ( export PATH="$ROOT/$dir/bin:$PATH" PYTHONHASHSEED=0 RESNET_BOOK_PROFILE=quick   # nbval's kernel: this env
    "$vpy" -m pytest --nbval-lax --nbval-current-env "${CHAPTERS[@]}" -q -p no:cacheprovider ) \
    >"$LOGS/$name-chapters.log" 2>&1 || rc=1
  t_nb=$((SECONDS - t)); c_nb=$(counts "$LOGS/$name-chapters.log")
  [ "$rc" -eq 0 ] && verdict=PASS || { verdict=FAIL; status=1; }
  summary+=("$verdict $name ($versions): library tests ${c_lib:-no result} in ${t_lib} s; chapters 01+04 ${c_nb:-no result} in ${t_nb} s; install/check ${t_install} s")
  [ "$rc" -eq 0 ] || { say "$name: FAILED — the failures:"; grep -hE '^(FAILED|ERROR) ' "$LOGS/$name-library.log" "$LOGS/$name-chapters.log" >&2 || true; }
done
[ "$install_only" -eq 1 ] && { say "installed: ${envs[*]}"; exit 0; }
for line in "${summary[@]}"; do say "$line"; done
exit "$status"
