"""fastmlp benchmark suite (pytest-benchmark tests and the interleaved ratio report)."""
