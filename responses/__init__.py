"""Reviewdesk responses."""
