"""The figure backend: `structure` and `layout` decide the boxes and arrows, `labels` and
`titles` their text, `style` their look, `dot` writes DOT, `render` runs Graphviz."""
