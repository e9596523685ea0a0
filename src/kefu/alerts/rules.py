"""Pure helpers for complaint early warning: hierarchy paths and count statistics.

No I/O, no state. Used by :mod:`kefu.alerts.detector` (hot path) and by the replay and
benchmark code.

Hierarchies
-----------
Areas and categories are *paths*: tuples from the broadest level to the most specific one,
e.g. ``("广东省", "深圳市", "南山区", "桃源小区")`` or ``("网络质量", "信号弱")``.
:func:`split_path` turns the usual text spellings (``省/市/区/小区``, ``A > B > C``, full-width
separators) into such tuples; :func:`is_prefix` is the ancestor-or-self test.

Statistics
----------
Window counts are tested against a negative-binomial predictive distribution (a Poisson whose
rate is uncertain / over-dispersed); a size of ``inf`` means plain Poisson. :func:`nb_tail` gives
the upper tail ``P(X >= k)`` (exact, via the regularised incomplete beta / gamma functions, no
cancellation for tiny tails), :func:`tail_score` turns it into ``-log10 p``, and
:func:`critical_count` the smallest count whose tail is at most a given p. ``critical_count`` is
memoised on a slightly *conservative* grid (mean rounded down, size rounded up) so the detector
can use it as a cheap pre-filter: a window below its critical count can never be significant,
and anything at or above it is re-checked exactly.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from scipy import special as _sp

__all__ = [
    "MAX_SCORE",
    "critical_count",
    "critical_counts",
    "format_path",
    "is_prefix",
    "nb_size",
    "nb_tail",
    "split_path",
    "tail_score",
]

#: Score reported when the tail probability underflows double precision.
MAX_SCORE = 300.0

_SEP = re.compile(r"\s*(?:/|>|／|＞|»|\\|→)\s*")


def split_path(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"省/市/区/小区"`` or ``"A > B > C"`` → ``("省", "市", "区", "小区")``.

    Segments are stripped and empty ones dropped, so ``"a//b"`` is ``("a", "b")`` and a blank
    string gives ``()``. A tuple without empty segments is returned as is; other tuples and
    lists are cleaned like strings.
    """
    if type(text) is tuple and all(text):
        return text  # tuples of non-empty segments are taken as given (the hot path)
    parts = [str(p).strip() for p in text] if isinstance(text, tuple | list) else _SEP.split(text.strip())
    return tuple(p for p in parts if p)


def format_path(path: tuple[str, ...]) -> str:
    """The inverse of :func:`split_path` for display: segments joined with ``/``."""
    return "/".join(path)


def is_prefix(prefix: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """True when ``prefix`` is ``path`` or one of its ancestors."""
    return len(prefix) <= len(path) and path[: len(prefix)] == prefix


def nb_size(alpha: float, overdispersion: float) -> float:
    """Negative-binomial size for a gamma posterior with shape ``alpha`` plus extra dispersion.

    The gamma–Poisson predictive of a rate with posterior shape ``alpha`` is NB with size
    ``alpha`` (its variance is ``mu + mu²/alpha``). Day-to-day variation that is not
    parameter uncertainty adds ``overdispersion * mu²``; sizes combine as reciprocals.
    ``inf`` means Poisson.
    """
    inv = (1.0 / alpha if alpha > 0 else math.inf) + overdispersion
    return math.inf if inv <= 0.0 else 1.0 / inv


def nb_tail(k: int, mu: float, size: float = math.inf) -> float:
    """``P(X >= k)`` for ``X ~ NB(mean=mu, size)`` (Poisson when ``size`` is ``inf``)."""
    if k <= 0:
        return 1.0
    if mu <= 0.0:
        return 0.0
    if size == math.inf or size > 1e12:
        return float(_sp.gammainc(k, mu))
    # NB(size r, success p = r/(r+mu)): P(X >= k) = I_{mu/(mu+r)}(k, r).
    return float(_sp.betainc(k, size, mu / (mu + size)))


def _log10_nb_pmf(k: int, mu: float, size: float) -> float:
    if size == math.inf or size > 1e12:
        return (k * math.log(mu) - mu - math.lgamma(k + 1)) / math.log(10)
    q = mu / (mu + size)
    return (
        math.lgamma(k + size) - math.lgamma(size) - math.lgamma(k + 1) + size * math.log1p(-q) + k * math.log(q)
    ) / math.log(10)


def tail_score(k: int, mu: float, size: float = math.inf) -> float:
    """``-log10 P(X >= k)``, capped at :data:`MAX_SCORE`; 0 for ``k <= 0``."""
    p = nb_tail(k, mu, size)
    if p > 0.0:
        return min(MAX_SCORE, -math.log10(p))
    if k <= 0 or mu <= 0.0:
        return MAX_SCORE if k > 0 else 0.0
    # Underflow: the tail is at least its first term, a sharp bound this far out.
    return min(MAX_SCORE, -_log10_nb_pmf(k, mu, size))


# --------------------------------------------------------------------------- critical counts

_MU_STEPS = 20.0  # grid steps per e-fold of the mean (~5 %)
_SIZE_STEPS = 8.0  # grid steps per e-fold of the size (~13 %)


def critical_count(mu: float, size: float, score: float, floor: int = 1) -> int:
    """A lower bound on the smallest ``k >= floor`` with ``tail_score(k, mu, size) >= score``.

    Exact on a grid slightly below ``mu`` and above ``size`` (so the bound is conservative) and
    memoised; meant as a pre-filter, the caller re-checks exactly.
    """
    if mu <= 0.0:
        return floor
    mq = math.floor(math.log(mu) * _MU_STEPS)
    return max(floor, _critical_on_grid(mq, _size_grid(size), round(score * 100)))


def _size_grid(size: float) -> int | None:
    """Grid index of an NB size, rounded up (toward Poisson); None for Poisson."""
    if size == math.inf or size > 1e12:
        return None
    return math.ceil(math.log(max(size, 1e-6)) * _SIZE_STEPS)


def critical_counts(
    rate: float, size: float, score: float, floor: int, log_windows: tuple[float, ...]
) -> tuple[int, ...]:
    """:func:`critical_count` for means ``rate * w`` over windows given as ``log(w)``."""
    if rate <= 0.0:
        return (floor,) * len(log_windows)
    lr = math.log(rate)
    sq = _size_grid(size)
    sc = round(score * 100)
    out = []
    for lw in log_windows:
        k = _critical_on_grid(math.floor((lr + lw) * _MU_STEPS), sq, sc)
        out.append(k if k > floor else floor)
    return tuple(out)


@lru_cache(maxsize=65536)
def _critical_on_grid(mq: int, sq: int | None, score_centi: int) -> int:
    mu = math.exp(mq / _MU_STEPS)
    size = math.inf if sq is None else math.exp(sq / _SIZE_STEPS)
    target = score_centi / 100.0
    p_target = 10.0**-target
    var = mu + (0.0 if size == math.inf else mu * mu / size)
    z = float(_sp.ndtri(1.0 - p_target)) if p_target < 0.5 else 0.0
    # Smallest k with P(X >= k) <= p: the tail falls with k; bracket, then bisect.
    lo, hi = 0, max(1, int(mu + z * math.sqrt(var)))
    while nb_tail(hi, mu, size) > p_target:
        lo, hi = hi, 2 * hi + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if nb_tail(mid, mu, size) > p_target:
            lo = mid
        else:
            hi = mid
    # In the upper tail P(X >= k) rises with the mean and falls with the size, so the grid
    # point (mean rounded down, size rounded up) gives a count no larger than the exact one.
    return hi
