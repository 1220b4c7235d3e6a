"""Renderers: one function per format, each of (findings, run metadata)."""
