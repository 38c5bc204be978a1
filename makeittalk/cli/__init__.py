"""Command-line interface: thin layers over the pipelines, one module per subcommand."""
