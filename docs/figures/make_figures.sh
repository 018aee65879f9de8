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
    # U-Net drawn as a U (Ronneberger et al., Fig. 1), with a title and the legend; ResNet-50
    # with every op, wrapped into columns for the full width of a page (7 in).
    incept-dsl render unet.incept --model unet --title "U-Net" --legend -o "unet.$fmt"
    incept-dsl render unet.incept --model unet --expand --width 7in -o "unet_expand.$fmt"
    incept-dsl render unet.incept --model unet --rankdir LR -o "unet_lr.$fmt"
    incept-dsl render resnet.incept --model resnet50 --expand --width 7in \
        -o "resnet50_expand_7in.$fmt"
    # What a box can show: BN and activation, parameters and MACs (the bottleneck of ResNet-50)
    incept-dsl render resnet.incept --model resnet50 --block bottleneck --show-norm-act --costs \
        --legend -o "resnet50_bottleneck_costs.$fmt"
done
# PlotNeuralNet-style overviews (SVG; GoogLeNet also as TikZ source that pdflatex compiles)
incept-dsl render googlenet.incept --model googlenet --style blocks --width 7in \
    -o googlenet_blocks.svg
incept-dsl render unet.incept --model unet --style blocks --width 7in -o unet_blocks.svg
incept-dsl compile googlenet.incept --model googlenet --to tikz --width 7in -o googlenet_blocks.tex
