"""Contract checks and generated reference documents of the published language, as a Django app."""
