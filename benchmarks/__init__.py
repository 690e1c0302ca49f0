"""Benchmarks: standalone scripts that measure MedEmbed (see BENCHMARKS.md); not part of the installed package."""
