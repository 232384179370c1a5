"""Fuzzed configs: whatever a user writes, loading gives a ProjectConfig or one ConfigError line, never a traceback."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgedistill.errors import ConfigError
from edgedistill.pipeline.config import EXAMPLE_CONFIG, ProjectConfig, load_config

EXAMPLE = yaml.safe_load(EXAMPLE_CONFIG)
# every (section, key) the example has, so mutations hit real fields as well as made-up ones
KNOWN_PATHS = [(section, key) for section, body in EXAMPLE.items() if isinstance(body, dict) for key in body] + [
    (s, None) for s in EXAMPLE
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["../../etc/passwd", "/dev/null", "~", "", "mnist", "rpi4", "dscnn"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)
paths = st.one_of(
    st.sampled_from(KNOWN_PATHS), st.tuples(st.text(max_size=10), st.one_of(st.none(), st.text(max_size=10)))
)


def _apply(config: dict, path: tuple, value) -> dict:
    section, key = path
    if key is None:
        config[section] = value
    elif isinstance(config.get(section), dict):
        config[section][key] = value
    else:
        config[section] = {key: value}
    return config


def _load(tmp_path, text: str):
    path = tmp_path / "edgedistill.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        return load_config(path)
    except ConfigError as err:
        message = str(err)
        assert message.startswith(str(path)) and len(message.splitlines()) == 1, message
        return err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(paths, values), min_size=1, max_size=4))
@example(mutations=[(("\n", None), None)])  # found by this test: a key with a newline once made a two-line error
@example(mutations=[(("data", "npz"), "\u2028"), (("teacher", "bundled"), "x\ny")])
def test_mutated_example_loads_or_fails_in_one_line(tmp_path, mutations):
    config = copy.deepcopy(EXAMPLE)
    for path, value in mutations:
        config = _apply(config, path, value)
    result = _load(tmp_path, yaml.safe_dump(config))
    assert isinstance(result, (ProjectConfig, ConfigError))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_arbitrary_text_loads_or_fails_in_one_line(tmp_path, text):
    assert isinstance(_load(tmp_path, text), (ProjectConfig, ConfigError))
