"""Settings: defaults, environment, TOML file, and the order between them."""

from __future__ import annotations

from pathlib import Path

import pytest

from crownwatch import config
from crownwatch.errors import ConfigError


def test_defaults_put_everything_in_crownwatch_data(tmp_path: Path) -> None:
    settings = config.load(environ={})
    assert settings.home == Path("crownwatch-data")
    assert settings.db_url == f"sqlite:///{Path('crownwatch-data').resolve() / 'crownwatch.db'}"
    assert settings.lake_dir == Path("crownwatch-data") / "lake"


def test_environment_then_argument_override(tmp_path: Path) -> None:
    env = {"CROWNWATCH_HOME": str(tmp_path / "env"), "CROWNWATCH_DATABASE_URL": "postgresql://x/y"}
    assert config.load(environ=env).home == tmp_path / "env"
    assert config.load(environ=env).db_url == "postgresql://x/y"
    assert config.load(home=tmp_path / "arg", environ=env).home == tmp_path / "arg"


def test_toml_file_sets_home_database_and_limits(tmp_path: Path) -> None:
    toml = tmp_path / "cw.toml"
    toml.write_text(
        f'home = "{tmp_path / "h"}"\ndatabase_url = "sqlite:///x.db"\n'
        "[ingest]\nbatch_size = 500\nmax_record_bytes = 1024\n"
    )
    settings = config.load(config_file=toml, environ={})
    assert settings.home == tmp_path / "h"
    assert settings.db_url == "sqlite:///x.db"
    assert settings.ingest.batch_size == 500 and settings.ingest.max_record_bytes == 1024


def test_toml_in_home_is_read(tmp_path: Path) -> None:
    (tmp_path / "crownwatch.toml").write_text("[ingest]\nbatch_size = 7\n")
    assert config.load(home=tmp_path, environ={}).ingest.batch_size == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("home = [", "not valid TOML"),
        ("[ingest]\nbogus = 1\n", "unknown \\[ingest\\] settings"),
        ("[ingest]\nbatch_size = 'many'\n", "bad \\[ingest\\] value"),
    ],
)
def test_bad_settings_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    toml = tmp_path / "cw.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load(config_file=toml, environ={})


def test_missing_settings_file_named_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read settings file"):
        config.load(config_file=tmp_path / "nope.toml", environ={})
