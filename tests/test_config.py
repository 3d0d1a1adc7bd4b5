"""Settings: precedence, validation, and no environment reads at import time."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping

import pytest

import shuyu
import shuyu.config
from shuyu.config import Settings, iter_settings, load_settings
from shuyu.errors import ConfigError, ConfigFileError, UnknownSetting


def write(tmp_path, text: str):
    path = tmp_path / "shuyu.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_registry():
    settings = load_settings()
    assert settings == Settings()
    for info in iter_settings():
        section, key = info.name.split(".")
        assert getattr(getattr(settings, section), key) == info.default
        assert info.env == "SHUYU_" + info.name.replace(".", "_").upper()
        assert info.help.strip()
        assert isinstance(info.default, info.type)


def test_precedence_defaults_file_env_flags(tmp_path):
    path = write(
        tmp_path,
        "[mpc]\nfrac_bits = 18\npeer_timeout_s = 10\nconnect_timeout_s = 7\n",
    )
    env = {"SHUYU_MPC_PEER_TIMEOUT_S": "20", "SHUYU_MPC_CONNECT_TIMEOUT_S": "8"}
    overrides = {"mpc.connect_timeout_s": "9"}

    only_file = load_settings(path)
    assert (only_file.mpc.frac_bits, only_file.mpc.peer_timeout_s) == (18, 10.0)
    assert only_file.mpc.max_frame_bytes == Settings().mpc.max_frame_bytes  # default kept

    file_env = load_settings(path, env=env)
    assert file_env.mpc.frac_bits == 18  # from the file: env does not set it
    assert file_env.mpc.peer_timeout_s == 20.0  # env beats file
    assert file_env.mpc.connect_timeout_s == 8.0

    all_sources = load_settings(path, env=env, overrides=overrides)
    assert all_sources.mpc.frac_bits == 18
    assert all_sources.mpc.peer_timeout_s == 20.0
    assert all_sources.mpc.connect_timeout_s == 9.0  # flags beat env and file


def test_env_values_are_parsed_and_unrelated_variables_ignored():
    settings = load_settings(
        env={"SHUYU_MPC_FRAC_BITS": "20", "SHUYU_LOG_LEVEL": "debug", "HOME": "/x", "SHUYU_X": "1"}
    )
    assert settings.mpc.frac_bits == 20
    assert settings.log.level == "DEBUG"


def test_no_env_argument_means_no_environment(monkeypatch):
    monkeypatch.setenv("SHUYU_MPC_FRAC_BITS", "20")
    assert load_settings().mpc.frac_bits == Settings().mpc.frac_bits


def test_replace_validates_like_any_source():
    settings = Settings().replace(**{"mpc.frac_bits": 12})
    assert settings.mpc.frac_bits == 12
    with pytest.raises(ConfigError, match=r"mpc\.frac_bits"):
        Settings().replace(**{"mpc.frac_bits": 99})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("mpc.frac_bits", "sixteen"),
        ("mpc.frac_bits", 1.5),
        ("mpc.frac_bits", True),
        ("mpc.peer_timeout_s", "soon"),
        ("mpc.peer_timeout_s", False),
        ("mpc.max_frame_bytes", [1]),
    ],
)
def test_type_errors_name_the_setting(name, value):
    with pytest.raises(ConfigError, match=name) as raised:
        load_settings(overrides={name: value})
    assert raised.value.code == "config.invalid"
    assert type(raised.value) is ConfigError


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("mpc.frac_bits", -1),
        ("mpc.frac_bits", 41),
        ("mpc.peer_timeout_s", 0),
        ("mpc.connect_timeout_s", 1e9),
        ("mpc.max_frame_bytes", 1024),
        ("log.level", "chatty"),
    ],
)
def test_out_of_range_values_name_the_setting(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings(overrides={name: value})


def test_type_errors_from_the_environment_and_file_say_where(tmp_path):
    with pytest.raises(ConfigError, match=r"mpc\.frac_bits from environment"):
        load_settings(env={"SHUYU_MPC_FRAC_BITS": "many"})
    path = write(tmp_path, '[mpc]\npeer_timeout_s = "later"\n')
    with pytest.raises(ConfigError, match=r"mpc\.peer_timeout_s from .*shuyu\.toml"):
        load_settings(path)


def test_unknown_keys_raise_unknown_setting(tmp_path):
    with pytest.raises(UnknownSetting, match=r"mpc\.frac_bit"):
        load_settings(write(tmp_path, "[mpc]\nfrac_bit = 16\n"))
    with pytest.raises(UnknownSetting, match=r"nosuch\.thing"):
        load_settings(write(tmp_path, "[nosuch]\nthing = 1\n"))
    with pytest.raises(UnknownSetting, match="frac_bits"):
        load_settings(write(tmp_path, "frac_bits = 16\n"))  # outside any section
    with pytest.raises(UnknownSetting):
        load_settings(overrides={"mpc.nothing": 1})
    assert issubclass(UnknownSetting, ConfigError)


def test_bad_toml_raises_config_file_error(tmp_path):
    with pytest.raises(ConfigFileError, match="not valid TOML"):
        load_settings(write(tmp_path, "[mpc\nfrac_bits = \n"))


def test_missing_file_raises_config_file_error(tmp_path):
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_settings(tmp_path / "absent.toml")


class _RecordingEnviron(Mapping[str, str]):
    """Stands in for os.environ and records every read."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self._data = dict(data)
        self.reads: list[str] = []

    def __getitem__(self, key: str) -> str:
        self.reads.append(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.reads.append("<iter>")
        return iter(self._data)

    def __len__(self) -> int:
        self.reads.append("<len>")
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        self.reads.append(str(key))
        return key in self._data

    def get(self, key, default=None):  # type: ignore[override]
        self.reads.append(key)
        return self._data.get(key, default)


def test_importing_config_reads_no_environment(monkeypatch):
    bogus = {"SHUYU_MPC_FRAC_BITS": "not-a-number", "SHUYU_LOG_LEVEL": "chatty"}
    for key, value in bogus.items():
        monkeypatch.setenv(key, value)
    recorder = _RecordingEnviron(os.environ)
    # A fresh import of the module; monkeypatch puts the original back afterwards, both in
    # sys.modules and as the package's attribute, so later tests see one set of classes.
    monkeypatch.setattr(shuyu, "config", shuyu.config)
    monkeypatch.delitem(sys.modules, "shuyu.config")
    with monkeypatch.context() as patch:
        patch.setattr(os, "environ", recorder)
        fresh = importlib.import_module("shuyu.config")
        defaults = fresh.Settings()
        loaded = fresh.load_settings()
    assert recorder.reads == []

    assert defaults.mpc.frac_bits == 16
    assert loaded.mpc.frac_bits == 16
    assert loaded.log.level == "INFO"
    # The bogus values were really there, for whoever passes the environment explicitly.
    with pytest.raises(ConfigError, match=r"mpc\.frac_bits"):
        fresh.load_settings(env=recorder)
    assert "SHUYU_MPC_FRAC_BITS" in recorder.reads
