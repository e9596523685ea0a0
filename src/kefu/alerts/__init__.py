"""Early warning (预警): streaming detection of complaint clusters by area × category.

Public surface: :class:`Detector`, :class:`DetectorConfig` and :class:`AlertUpdate` (see
:mod:`kefu.alerts.detector`). The replay of CSV exports lives in :mod:`kefu.alerts.replay`
and the ``kefu alerts`` commands in :mod:`kefu.alerts.cli`; :mod:`kefu.alerts.synthetic`
generates test streams. Incidents and persistence are built on top of this package.
"""

from kefu.alerts.detector import AlertUpdate, Detector, DetectorConfig

__all__ = ["AlertUpdate", "Detector", "DetectorConfig"]
