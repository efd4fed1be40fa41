"""One module a subcommand, each `command(args) -> int`."""
