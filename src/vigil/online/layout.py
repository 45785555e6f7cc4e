"""Where each counter and scalar of a series' state sits (light: no numba to import)."""

# Counters (int64 array ``counts``): fill and position of each ring.
(
    N_VALUES,
    POS_VALUES,
    N_STEPS,
    POS_STEPS,
    N_CYCLES,
    POS_CYCLES,
    N_HISTORY,
    N_RAW,
    POS_RAW,
    N_SCORES,
    POS_SCORES,
    N_LIKS,
    POS_LIKS,
    HAS_LAST,
    N_LEVELS,
    POS_LEVELS,
) = range(16)
COUNTERS = 16
# Scalars (float64 array ``scalars``): the previous value, and the running sums of the
# raw score (point) and of its short mean over the score window.
LAST_VALUE, POINT_SUM, POINT_SUMSQ, MEAN_SUM, MEAN_SUMSQ = range(5)
SCALARS = 5
# How many recent values the level (their mean) averages.
LEVEL_POINTS = 6
# Too few points in a reference to judge by: the score is 0 until then.
MIN_REFERENCE = 12
