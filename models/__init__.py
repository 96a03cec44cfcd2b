"""Review understanding: language, sentiment, complaint topics, severity (issue 3)."""
