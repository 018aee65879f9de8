#!/usr/bin/env bash
# The main job: compile the bundled GoogLeNet to every target and show what came out.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out}
mkdir -p "$out"
run() { echo "\$ $*"; "$@"; echo; }
run incept-dsl list
run incept-dsl check googlenet.incept
run incept-dsl compile googlenet.incept --model googlenet --to torch -o "$out/googlenet.py"
run python3 - "$out/googlenet.py" <<'PY'
import importlib.util, sys, torch
spec = importlib.util.spec_from_file_location("googlenet", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
net = mod.Googlenet().eval()
with torch.no_grad():
    y = net(torch.randn(1, 3, 224, 224))
print(f"{sys.argv[1]}: Googlenet()(1x3x224x224) -> {tuple(y.shape)}, "
      f"{sum(p.numel() for p in net.parameters()):,} parameters")
PY
