"""One spider per platform; businesses are configured, not coded."""
