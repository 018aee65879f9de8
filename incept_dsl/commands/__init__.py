"""CLI subcommands: one module each, exporting HELP, add_arguments(parser), run(args) -> int."""
