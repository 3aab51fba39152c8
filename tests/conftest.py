"""Suite-wide test settings."""

from hypothesis import settings

# Property tests draw the same examples on every run, so CI and a local run see the same cases,
# and a loaded 2-core machine cannot fail a test by its time limit alone.
settings.register_profile("tfg", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("tfg")
