"""The daemon imports ccxt without its exchange modules, and ccxt still works the same.

Each check runs in a fresh interpreter: this test process has imported ccxt already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# exchange modules loaded: ccxt.<id>, ccxt.async_support.<id>, ccxt.pro.<id> (ccxt's
# only: the feeds' own exchange profiles are named after ccxt ids too)
EXCHANGE_MODULES = (
    "import ccxt; n = len([m for m in sys.modules "
    "if m.startswith('ccxt.') and m.rsplit('.', 1)[-1] in ccxt.exchanges])"
)


def _run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_daemon_and_building_binance_loads_only_binance() -> None:
    got = _run(
        f"""
        import json, sys, virtuoso_daemon.feeds.ccxt_factory as f
        ex = f.exchange_class("binanceusdm")({{}})
        {EXCHANGE_MODULES}
        mods = sorted(m for m in sys.modules if m.startswith("ccxt.pro.") and "base" not in m)
        print(json.dumps({{"n": n, "pro": mods, "id": ex.id}}))
        """
    )
    assert got["id"] == "binanceusdm"
    # binanceusdm's ws class builds on binance: async_support, pro and abstract (the
    # implicit API) modules of those two, not the 300 of every exchange
    assert got["pro"] == ["ccxt.pro.binance", "ccxt.pro.binanceusdm"]
    assert got["n"] == 6


def test_every_exchange_resolves_to_the_same_class_as_an_eager_import() -> None:
    code = """
        import json, sys
        {prelude}
        import ccxt, ccxt.async_support as a, ccxt.pro as p
        out = {{
            "version": ccxt.__version__,
            "exchanges": list(ccxt.exchanges),
            "pro": list(p.exchanges),
            "rest": {{i: getattr(a, i).__module__ for i in a.exchanges}},
            "ws": {{i: getattr(p, i).__module__ for i in p.exchanges}},
            "errors": sorted(n for n in dir(ccxt) if n.endswith("Error")),
            "mro": [c.__name__ for c in p.binanceusdm.__mro__],
        }}
        print(json.dumps(out))
    """
    lazy = _run(code.format(prelude="import virtuoso_daemon"))
    eager = _run(code.format(prelude=""))
    assert lazy == eager
    assert len(lazy["rest"]) > 100 and "binance" in lazy["ws"]


def test_the_lazy_packages_are_marked_and_an_unknown_name_is_an_attribute_error() -> None:
    got = _run(
        """
        import json, virtuoso_daemon, ccxt.pro as p
        from virtuoso_daemon.core.ccxt_import import is_lazy
        try:
            p.not_an_exchange
            err = None
        except AttributeError as exc:
            err = str(exc)
        print(json.dumps({"lazy": is_lazy(p), "err": err}))
        """
    )
    assert got["lazy"] is True
    assert "not_an_exchange" in got["err"]
