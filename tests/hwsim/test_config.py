"""Architecture specs: presets load, derived quantities follow, bad specs name the field and value."""
from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import yaml
from pydantic import ValidationError

from hwsim.config import load_arch, preset_names
from hwsim.errors import ConfigError
from hwsim.dataflow.sparsity import NM


def test_presets_ship_and_load():
    assert {"sat-vcu1525", "sat-small"} <= set(preset_names())
    cfg = load_arch("sat-vcu1525")
    assert cfg.peak_macs_per_cycle == cfg.array.rows * cfg.array.cols * cfg.array.mults_per_pe
    # 4 x DDR4-2400 x 64 bit = 76.8 GB/s peak, derated by the stated efficiency
    assert cfg.dram.bytes_per_second == pytest.approx(76.8e9 * cfg.dram.efficiency)
    assert cfg.target.k_step(NM(2, 8)) == 4 * cfg.target.k_step(None)


def test_config_is_frozen():
    cfg = load_arch("sat-small")
    with pytest.raises(ValidationError, match="frozen"):
        cfg.clock_mhz = 1


def _spec(tmp_path, mutate):
    data = yaml.safe_load(files("hwsim.presets").joinpath("sat-small.yaml").read_text())
    mutate(data)
    path = tmp_path / "arch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("mutate,expect", [
    (lambda d: d["array"].update(rows=-4), "array.rows: -4"),
    (lambda d: d["dram"].update(efficiency=1.5), "dram.efficiency: 1.5"),
    (lambda d: d["array"].update(colz=4), "array.colz: unknown field"),
    (lambda d: d.pop("clock_mhz"), "clock_mhz: missing"),
    (lambda d: d.update(version=7), "version: 7"),
    (lambda d: d["buffers"].update(a_kib=0), "buffers.a_kib: 0"),
    (lambda d: d["array"].update(rows=64, cols=64), "buffers.c_kib: 4 KiB is smaller than one double-buffered tile"),
    (lambda d: d["selector"].update(group_sizes=[1]), "selector.group_sizes: 1"),
])
def test_bad_spec_names_field_and_value(tmp_path, mutate, expect):
    with pytest.raises(ConfigError, match=expect) as err:
        load_arch(_spec(tmp_path, mutate))
    assert "\n" not in str(err.value) and "arch.yaml" in str(err.value)


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\narray: {rows: 4\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d"):
        load_arch(path)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown preset 'sat-huge'.*sat-small"):
        load_arch("sat-huge")


def test_unsupported_nm_is_named():
    cfg = load_arch("sat-vcu1525")
    with pytest.raises(ConfigError, match="group size M=3"):
        cfg.check_nm(NM(2, 3))
    with pytest.raises(ConfigError, match="N=3"):
        cfg.check_nm(NM(3, 8))
    cfg.check_nm(NM(2, 8))


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(max_size=60), _values.map(yaml.safe_dump)), st.sampled_from(["array", "dram", "energy",
                                                                                          "selector", "version"]))
def test_garbage_specs_only_raise_config_errors(tmp_path_factory, text, field):
    """Raw garbage, and a real preset with one section replaced by garbage: one-line ConfigError, never a crash."""
    path = tmp_path_factory.mktemp("fuzz") / "x.yaml"
    for candidate in (text, _with_field(field, text)):
        path.write_text(candidate)
        try:
            load_arch(path)
        except ConfigError as err:
            assert "\n" not in str(err)


def _with_field(field, text):
    data = yaml.safe_load(files("hwsim.presets").joinpath("sat-small.yaml").read_text())
    try:
        data[field] = yaml.safe_load(text)
    except yaml.YAMLError:
        data[field] = text
    return yaml.safe_dump(data)
