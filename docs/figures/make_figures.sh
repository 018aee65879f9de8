#!/bin/sh
# Regenerates the figures in docs/figures from the bundled architectures (needs Graphviz `dot`).
# Run from anywhere: sh docs/figures/make_figures.sh
set -e
cd "$(dirname "$0")"
for fmt in svg png; do
    incept-dsl render googlenet.incept --model googlenet -o "googlenet.$fmt"
    incept-dsl render googlenet.incept --model googlenet --block inception \
        -o "googlenet_inception_module.$fmt"
    for b in a b c; do
        incept-dsl render inception_v4.incept --block "inception_$b" -o "inception_v4_$b.$fmt"
    done
done
