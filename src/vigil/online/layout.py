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
    PEAK_SIZE,
    PEAK_HEAD,
    HAS_LAST,
    N_LEVELS,
    POS_LEVELS,
    N_RESIDUALS,
    POS_RESIDUALS,
    HAS_FORECAST,
) = range(19)
COUNTERS = 19
# Scalars (float64 array ``scalars``): the previous value, the running sums of the
# raw score (point) and of its short mean over the score window, and the forecaster's level.
LAST_VALUE, POINT_SUM, POINT_SUMSQ, MEAN_SUM, MEAN_SUMSQ, FORECAST_LEVEL = range(6)
SCALARS = 6
# The surprises the raw score can take the largest of (a bit mask, ``components``).
VALUE, STEP, LEVEL, CYCLE, FORECAST = 1, 2, 4, 8, 16
ALL_COMPONENTS = VALUE | STEP | LEVEL | CYCLE | FORECAST
# How many recent values the level (their mean) averages.
LEVEL_POINTS = 6
# Too few points in a reference to judge by: the score is 0 until then.
MIN_REFERENCE = 12
