"""Thin on purpose: everything a user needs comes from the synthmon plugin (entry point)."""
