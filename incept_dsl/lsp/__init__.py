"""`incept-dsl lsp`: a Language Server Protocol server over stdio (needs the `lsp` extra, pygls).

One module per job: `positions` (LSP positions <-> offsets), `analysis` (parse and elaborate a
buffer, cached per version), `index` (the names of a program: definitions and references),
`diagnostics`, `hover`, `completion`, `navigation` (definition, references, document symbols),
`tokens` (semantic tokens from the Pygments lexer) and `server` (the pygls server).
"""
