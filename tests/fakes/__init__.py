"""Loopback fakes of the platforms Reviewdesk posts replies to, and helpers for publishing tests."""
