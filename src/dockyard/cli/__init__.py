"""The `dockyard` command: `main.py` parses the arguments; one module per subcommand."""
