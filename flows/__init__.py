"""Reviewdesk flows."""
