"""Tests of airshift runtimes."""
