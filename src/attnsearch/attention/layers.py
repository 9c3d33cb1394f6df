"""The attention layers, by the name they had before the split by concern.

:class:`~attnsearch.attention.AttentionHead` lives in ``head.py``,
:class:`~attnsearch.attention.MultiHeadAttention` and ``alibi_slopes`` in
``multihead.py``; import them from :mod:`attnsearch.attention`.
"""

from .head import AttentionHead
from .multihead import MultiHeadAttention, alibi_slopes

__all__ = ["AttentionHead", "MultiHeadAttention", "alibi_slopes"]
