"""The `zoo` command line, built from the plugin manager."""
