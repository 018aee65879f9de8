#!/usr/bin/env bash
# Set up incept-dsl on a fresh machine that has Python 3.11 and root.
#   bash scripts/setup.sh          # the package, its runtime needs and Graphviz's `dot`
#   bash scripts/setup.sh --test   # also what the tests need (torchvision, timm, onnxruntime, ...)
# torch is pinned to 2.13.0 first: that is the local CPU wheel on these machines (any other torch
# request pulls gigabytes of CUDA packages).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

if ! command -v dot >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq graphviz >/dev/null
  else
    echo "setup: Graphviz's 'dot' is missing; install it (apt-get install graphviz) for figures" >&2
  fi
fi

# the tests compile the LaTeX tables and TikZ figures with pdflatex when it is there (they skip,
# saying why, when it is not); installing it is best effort and never fails the setup
if [ -n "$extras" ] && ! command -v pdflatex >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends \
     texlive-latex-base texlive-latex-recommended texlive-pictures >/dev/null) \
    || echo "setup: pdflatex could not be installed; the LaTeX tests will skip" >&2
fi

# the preview's browser test drives a headless Chromium with Selenium when both are there (it
# skips, saying why, when they are not); installing them is best effort and never fails the setup
if [ -n "$extras" ] && ! command -v chromedriver >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends \
     chromium chromium-driver >/dev/null) \
    || echo "setup: chromium could not be installed; the preview's browser test will skip" >&2
fi

$PY -m pip install -q --disable-pip-version-check "torch==2.13.0"
$PY -m pip install -q --disable-pip-version-check -e ".${extras}"
# an editable install compiles nothing, and with PYTHONDONTWRITEBYTECODE set Python never writes
# the bytecode itself: then every command compiles the package again (60 ms of `check`'s 0.33 s)
$PY -m compileall -q incept_dsl >/dev/null
echo "setup: incept-dsl $($PY -c 'import incept_dsl; print(incept_dsl.__version__)') ready" \
     "(torch $($PY -c 'import torch; print(torch.__version__)'))"
