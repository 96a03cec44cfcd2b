"""Prefect flows: the pipeline's stages on a schedule."""
