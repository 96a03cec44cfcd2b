"""Reviewdesk pipeline."""
