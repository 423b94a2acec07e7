"""A config reload reaches the beta actor, which refuses windows it cannot compute
before anything is applied (issue 16: beta was never reconfigured by a reload)."""

from __future__ import annotations

import msgspec
import pytest

from tests.beta.helpers import beta_config, beta_specs
from tests.harness import running_daemon, short_tmpdir
from virtuoso_daemon.core.config import ConfigError


async def test_a_reload_reconfigures_beta() -> None:
    tmp = short_tmpdir()
    cfg = beta_config(tmp)
    async with running_daemon(cfg, beta_specs(http=False)) as d:
        path = tmp / "virtuoso.toml"
        path.write_text('[beta]\nhistory = 7\n[beta.windows]\n"1h" = ["3d"]\n')
        d.runtime.config_path = path
        d.runtime.overrides = {k: v for k, v in msgspec.to_builtins(cfg).items() if k != "beta"}
        result = await d.supervisor.reload_config()
        beta = d.supervisor.actor("beta")
        assert result.changed == ["beta"] and result.restart_required == []
        assert beta.cfg.history == 7
        assert [w for w, _ in beta.cfg.windows["1h"]] == ["3d"]


async def test_beta_refuses_a_window_it_cannot_compute_and_keeps_its_own() -> None:
    tmp = short_tmpdir()
    cfg = beta_config(tmp)
    async with running_daemon(cfg, beta_specs(http=False)) as d:
        path = tmp / "virtuoso.toml"
        path.write_text('[beta.windows]\n"1h" = ["3d", "2x"]\n')
        d.runtime.config_path = path
        d.runtime.overrides = {k: v for k, v in msgspec.to_builtins(cfg).items() if k != "beta"}
        with pytest.raises(ConfigError, match=r"beta\.windows\.1h: .*'2x'"):
            await d.supervisor.reload_config()
        beta = d.supervisor.actor("beta")
        assert [w for w, _ in beta.cfg.windows["1h"]] == ["2d", "7d"]
        assert d.runtime.config is not None and d.runtime.config.beta == cfg.beta
