"""Architecture specs: presets load, derived quantities follow, bad specs name the field and value."""
from importlib.resources import files

import pytest
import yaml

from hwsim.config import load_arch, preset_names
from hwsim.errors import ConfigError
from dataflow.sparsity import NM


def test_presets_ship_and_load():
    assert {"sat-vcu1525", "sat-small"} <= set(preset_names())
    cfg = load_arch("sat-vcu1525")
    assert cfg.peak_macs_per_cycle == cfg.array.rows * cfg.array.cols * cfg.array.mults_per_pe
    # 4 x DDR4-2400 x 64 bit = 76.8 GB/s peak, derated by the stated efficiency
    assert cfg.dram.bytes_per_second == pytest.approx(76.8e9 * cfg.dram.efficiency)
    assert cfg.target.k_step(NM(2, 8)) == 4 * cfg.target.k_step(None)


def test_config_is_frozen():
    cfg = load_arch("sat-small")
    with pytest.raises(Exception):
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
