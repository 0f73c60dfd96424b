"""Sagas: work that spanned contexts in one transaction, run as steps with a deadline."""
