"""fastmlp.ops: the NumPy-level backend API (placeholder, being written)."""
