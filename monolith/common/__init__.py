"""Pieces the monolith's contexts share that belong to no single context."""
