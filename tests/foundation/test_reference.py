"""The generated reference pages cannot drift: docs/config-reference.md is rendered from
the config structs (+ the comments of config/virtuoso.toml) and docs/api-reference.md
from the OpenAPI document the daemon serves; a stale page or a key the example file
does not mention fails here. Fix: ``scripts/gen_reference.py``."""

from __future__ import annotations

import pytest

from tests.harness import REPO
from virtuoso_daemon.process import api_reference, config_reference
from virtuoso_daemon.process.reference import EXAMPLE_CONFIG, PAGES, render_page

FIX = "stale: run scripts/gen_reference.py and commit the page"


@pytest.mark.parametrize("page", PAGES)
def test_the_committed_page_is_what_the_code_generates(page: str) -> None:
    assert (REPO / page).read_text() == render_page(page, REPO), f"{page}: {FIX}"


def test_every_config_key_is_written_in_the_example_file() -> None:
    notes = config_reference.parse_toml_notes((REPO / EXAMPLE_CONFIG).read_text())
    assert config_reference.undocumented_keys(notes) == [], (
        f"add these keys, with a comment, to {EXAMPLE_CONFIG} (commented out is fine)"
    )


def test_a_key_row_has_type_range_default_environment_and_the_files_comment() -> None:
    text = "[daemon]\nport = 8003      # HTTP port\n                 # (0 = any)\n"
    page = config_reference.render(config_reference.parse_toml_notes(text))
    row = "| `port` | int, 0 .. 65535 | `8003` | `VIRTUOSO_DAEMON__PORT` | HTTP port (0 = any) |"
    assert row in page.splitlines()


def test_notes_come_from_trailing_comments_blocks_and_commented_out_tables() -> None:
    text = (
        '[api]\n# who may write\ntoken = ""   # bearer\n'
        '[memcached]\nenabled = true\n# keys: a prefix\nkey_prefix = ""\n'
        '# One per receiver.\n# [[alerts.destinations]]\n# name = "x"   # unique\n'
        '# [[alerts.destinations]]\n# name = "y"   # a later example\n'
    )
    notes = config_reference.parse_toml_notes(text)
    assert notes.keys["api.token"] == "bearer" and notes.tables["api"] == "who may write"
    assert notes.keys["memcached.key_prefix"] == "keys: a prefix"
    assert notes.keys["alerts.destinations.name"] == "unique"
    assert notes.tables["alerts.destinations"] == "One per receiver."


def test_the_api_page_lists_every_route_of_the_spec_with_its_parameters() -> None:
    doc = api_reference.spec()
    page = api_reference.render(doc)
    for path, item in doc["paths"].items():
        for method in item:
            assert f"### `{method.upper()} {path}`" in page
    assert "| `level` | query |" in page  # /api/system/logs' LogsArgs
