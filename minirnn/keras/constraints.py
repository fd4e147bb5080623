"""``keras.constraints``: see :mod:`minirnn.constraints` (the same classes)."""
from ..constraints import (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm, deserialize, get, max_norm,
                           min_max_norm, non_neg, serialize, unit_norm)

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg", "unit_norm",
           "min_max_norm", "get", "serialize", "deserialize"]
