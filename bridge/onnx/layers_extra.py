"""More DL4J layers (filled in by converter modules as they land)."""
