"""Where each counter and scalar of a series' state sits (light: no numba to import)."""

# Counters (int64 array ``counts``).
(
    N_VALUES,
    POS_VALUES,
    N_STEPS,
    POS_STEPS,
    N_RAW,
    POS_RAW,
    N_MEANS,
    POS_MEANS,
    N_LIKS,
    POS_LIKS,
    HAS_LAST,
) = range(11)
COUNTERS = 11
# Scalars (float64 array ``scalars``).
LAST_VALUE, MEAN_SUM, MEAN_SUMSQ = range(3)
SCALARS = 3
# Too few points in a reference to judge by: the score is 0 until then.
MIN_REFERENCE = 12
