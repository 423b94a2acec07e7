"""The OKX v5 dialect of the simulator: the same engine, truth and faults, OKX's API.

REST under ``/api/v5`` (:mod:`.rest`), websockets at ``/ws/v5/public`` and
``/ws/v5/business`` (:mod:`.ws`), payloads in :mod:`.encode`. The Binance dialect's
paths do not overlap, so one simulator serves both at once: a daemon can watch
Binance spot and OKX swaps of one market model (``SimConfig.dialects``,
``virtuoso-sim --dialect okx``).
"""
