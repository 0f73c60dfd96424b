"""Tests of the generated service."""
