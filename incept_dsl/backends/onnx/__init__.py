"""The ONNX backend: `export` builds the ModelProto (lowering per op in `lowering`, its context
in `context`, block instances as local functions in `functions`, the file with its initializers
in `file`)."""
