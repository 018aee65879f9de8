"""The cost-table backend: `rows` counts each layer and block, `table` assembles the `Summary`,
`formats` and `tables` write it as text, Markdown, CSV, LaTeX or JSON."""
