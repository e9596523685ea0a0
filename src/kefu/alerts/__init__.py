"""Early warning (预警): streaming detection of complaint clusters by area × category, and incidents.

Public surface: :class:`Detector`, :class:`DetectorConfig` and :class:`AlertUpdate` (see
:mod:`kefu.alerts.detector`). The replay of CSV exports lives in :mod:`kefu.alerts.replay`
and the ``kefu alerts`` commands in :mod:`kefu.alerts.cli`; :mod:`kefu.alerts.synthetic`
generates test streams.

Integration (loaded on first use, so the detector and its CLI stay light):

* :func:`join_open_incident` — asked by the work-order dispatch path: does an open incident cover this
  complaint? If so it joins the incident's master order instead of being dispatched (hand-off saved).
* :func:`covering_incident` — the most specific open incident over an area (and category).
* :func:`do_open_incident`, :func:`do_resolve_incident` — incidents (:mod:`kefu.alerts.actions`).
* :mod:`kefu.alerts.jobs` — the detector service over ``complaint_events``; :mod:`kefu.alerts.call_hooks` —
  the IVR's ``incident_in_area`` condition and ``sms_incident_notice`` self-service.
"""

from typing import Any

from kefu.alerts.detector import AlertUpdate, Detector, DetectorConfig

_LAZY = {
    "join_open_incident": "kefu.alerts.actions",
    "covering_incident": "kefu.alerts.actions",
    "do_open_incident": "kefu.alerts.actions",
    "do_resolve_incident": "kefu.alerts.actions",
    "AlertSettings": "kefu.alerts.policy",
}

__all__ = ["AlertUpdate", "Detector", "DetectorConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kefu.alerts' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
