"""Reviewdesk models."""
