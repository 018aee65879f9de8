#!/usr/bin/env bash
# The main job: compile the bundled GoogLeNet to every target and show what came out.
#   bash scripts/demo.sh [OUT_DIR]     (default: out/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out}
mkdir -p "$out"
run() { echo "\$ $*"; "$@"; echo; }
run incept-dsl list
run incept-dsl check googlenet.incept
run incept-dsl compile googlenet.incept --to torch -o "$out/googlenet.py"
run incept-dsl compile googlenet.incept --to torch -O2 -o "$out/googlenet_O2.py"
run incept-dsl compile googlenet.incept --to onnx -o "$out/googlenet.onnx"
run incept-dsl render googlenet.incept -o "$out/googlenet.svg"
run incept-dsl render googlenet.incept --block inception -o "$out/inception_module.svg"
run incept-dsl compile googlenet.incept --to png -o "$out/googlenet.png"
run incept-dsl summary googlenet.incept --by block
run incept-dsl summary googlenet.incept --format json -o "$out/googlenet_summary.json"
echo "\$ python3 (load $out/googlenet.py and $out/googlenet.onnx, run both on one image)"
python3 - "$out" <<'PY'
import importlib.util, sys
import numpy as np, onnxruntime as ort, torch
out = sys.argv[1]
spec = importlib.util.spec_from_file_location("googlenet", f"{out}/googlenet.py")
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
net = mod.Googlenet().eval()
x = torch.randn(1, 3, 224, 224)
with torch.no_grad():
    y = net(x)
print(f"{out}/googlenet.py: Googlenet()(1x3x224x224) -> {tuple(y.shape)}, "
      f"{sum(p.numel() for p in net.parameters()):,} parameters")
sess = ort.InferenceSession(f"{out}/googlenet.onnx", providers=["CPUExecutionProvider"])
(z,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
print(f"{out}/googlenet.onnx: onnxruntime -> {z.shape}, {len(sess.get_inputs())} input(s)")
PY
echo
ls -l "$out"
