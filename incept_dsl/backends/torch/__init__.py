"""The PyTorch backend: `codegen` writes a standalone module (lowering per op in `lowering`,
names in `naming`, weight initialisation in `init_schemes`, -O2 kernels in `kernels`, the loss in
`loss`); at -O0 `structured` gives it one class per block (`units` finds the blocks a call can
run, `render` writes a unit's code, `slots` and `classes` share one class between the applications
of a block); `optimized` builds an optimised graph's module holding carried weights."""
