"""Reporters: they only format an Analysis."""
