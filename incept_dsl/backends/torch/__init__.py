"""The PyTorch backend: `codegen` writes a standalone module (lowering per op in `lowering`,
names in `naming`, weight initialisation in `init_schemes`, -O2 kernels in `kernels`, the loss in
`loss`); `optimized` builds an optimised graph's module holding carried weights."""
