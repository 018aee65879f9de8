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
    # The modules of the v2 library: SE-ResNet's bottleneck with its squeeze-and-excitation gate
    # (Hu et al., Fig. 3), the ConvNeXt block (Liu et al., Fig. 4), the ViT encoder layer
    # (Dosovitskiy et al., Fig. 1 right) and DeepLabV3's ASPP head (Chen et al., Fig. 5).
    incept-dsl render seresnet.incept --block se_bottleneck -o "seresnet_se_block.$fmt"
    incept-dsl render convnext.incept --model convnext_tiny --block cnblock -o "convnext_block.$fmt"
    incept-dsl render vit.incept --model vit_b_16 --block encoder_layer -o "vit_encoder_layer.$fmt"
    incept-dsl render segmentation.incept --model deeplabv3_resnet50 --block aspp \
        -o "deeplabv3_aspp.$fmt"
done
