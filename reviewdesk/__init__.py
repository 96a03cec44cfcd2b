"""Reviewdesk reviewdesk."""
