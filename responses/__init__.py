"""Reply drafting, approval and publishing (issue 4)."""
