"""Tests of strangler.seams: the seams report and the extract_context scaffold."""
