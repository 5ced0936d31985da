"""Mixed precision, as Keras' ``keras.mixed_precision``: the ``"mixed_bfloat16"`` policy
computes every Dense in bf16 (bf16 GEMM inputs, float32 sums) and keeps the weights,
the optimizer state and the loss in float32.

``set_global_policy(name)`` sets the policy that Dense layers created afterwards take
(``Dense(dtype_policy=...)`` and ``Sequential(..., dtype_policy=...)`` set it per layer
or per model); ``global_policy()`` returns its name. On CPUs with bf16 instructions
(AVX512-BF16, AMX: the ``avx512_bf16`` and ``amx`` tiers) the products run in bf16; on
others the operands are rounded to bf16 and multiplied in float32 (the same numerics,
slower than float32).
"""
from __future__ import annotations

from .layers._quantized import TRAINING_POLICIES

__all__ = ["set_global_policy", "global_policy", "POLICIES"]

POLICIES = TRAINING_POLICIES
_global = "float32"


def set_global_policy(policy: str) -> None:
    """Set the dtype policy of Dense layers created from now on: ``"float32"`` or
    ``"mixed_bfloat16"``."""
    global _global
    if not isinstance(policy, str) or policy not in POLICIES:
        raise ValueError(f"set_global_policy: policy must be one of "
                         f"{', '.join(map(repr, POLICIES))}; got {policy!r}")
    _global = policy


def global_policy() -> str:
    """The name of the dtype policy new Dense layers take (``"float32"`` by default)."""
    return _global
