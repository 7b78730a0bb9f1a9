"""The ``sgaplus`` command line: one module per subcommand, registered in ``main.build_parser``."""
