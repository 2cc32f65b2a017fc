"""Architecture specs: presets load, derived quantities follow, bad specs name the field and value."""
from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import yaml
from pydantic import ValidationError

from hwsim.config import load_arch, parse_set, preset_names, schema
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


# --- strict types and bounds -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate,expect", [
    (lambda d: d["array"].update(rows=True), r"array.rows: True \(input should be a valid integer"),
    (lambda d: d["buffers"].update(a_kib="4096"), r"buffers.a_kib: '4096' \(input should be a valid integer"),
    (lambda d: d["buffers"].update(a_kib=10**15), r"buffers.a_kib: 1000000000000000 \(input should be less"),
    (lambda d: d["array"].update(rows=10**20), r"array.rows: 100000000000000000000 \(input should be less"),
    (lambda d: d.update(clock_mhz="200"), r"clock_mhz: '200' \(input should be a valid number"),
    (lambda d: d["selector"].update(group_sizes=[4, True]), r"selector.group_sizes.1: True"),
    (lambda d: d["dram"].update(latency_ns=1e300), r"dram.latency_ns: 1e\+300"),
    (lambda d: d["board"].update(dsp=-1), r"board.dsp: -1"),
    (lambda d: d.pop("board"), r"board: missing"),
])
def test_strict_types_and_bounds(tmp_path, mutate, expect):
    with pytest.raises(ConfigError, match=expect):
        load_arch(_spec(tmp_path, mutate))


def test_integer_valued_float_fields_take_integers(tmp_path):
    cfg = load_arch(_spec(tmp_path, lambda d: d.update(clock_mhz=150)))
    assert cfg.clock_mhz == 150.0


# --- derived configs: Python, --set, base: -----------------------------------------------------------------------

def test_derive_validates_and_names_the_change():
    cfg = load_arch("sat-vcu1525")
    d = cfg.derive({"array.rows": 64, "array.cols": 16})
    assert (d.array.rows, d.array.cols) == (64, 16)
    assert d.name == "sat-vcu1525[array.cols=16,array.rows=64]" and d.derived_from == "sat-vcu1525"
    assert cfg.array.rows == 32  # the original is untouched
    assert d.derive({"vector.lanes": 64}).derived_from == "sat-vcu1525"  # provenance is the first ancestor
    with pytest.raises(ConfigError, match="buffers.a_kib: 1 KiB is smaller than one double-buffered tile"):
        cfg.derive({"buffers.a_kib": 1})
    with pytest.raises(ConfigError, match=r"array.rowz: unknown field \(expected one of: cols, mults_per_pe"):
        cfg.derive({"array.rowz": 64})
    with pytest.raises(ConfigError, match="array: is a section"):
        cfg.derive({"array": 64})
    with pytest.raises(ConfigError, match=r"array.rows: '64' \(input should be a valid integer"):
        cfg.derive({"array.rows": "64"})
    with pytest.raises(TypeError, match="changes"):
        cfg.derive([("array.rows", 64)])


def test_set_strings_are_read_as_yaml_values():
    assert parse_set("array.rows=64") == ("array.rows", 64)
    assert parse_set("selector.group_sizes=[4, 8]") == ("selector.group_sizes", [4, 8])
    assert parse_set("dram.efficiency=0.5") == ("dram.efficiency", 0.5)
    with pytest.raises(ConfigError, match="expected PATH=VALUE"):
        parse_set("array.rows")
    cfg = load_arch("sat-small", ["selector.group_sizes=[4, 8, 16]", "buffers.a_kib=16", "buffers.b_kib=16"])
    assert cfg.selector.group_sizes == (4, 8, 16)


def test_base_file_equals_set_overrides(tmp_path):
    path = tmp_path / "wide.yaml"
    path.write_text("version: 1\nbase: sat-vcu1525\narray:\n  rows: 64\n  cols: 16\n")
    from_file = load_arch(path)
    from_set = load_arch("sat-vcu1525", ["array.rows=64", "array.cols=16"])
    assert from_file == from_set and from_file.is_derived
    # a base may be another file, relative to the deriving file; a name in the file is kept
    (tmp_path / "deeper.yaml").write_text("version: 1\nbase: wide.yaml\nname: mine\ndram: {channels: 2}\n")
    deeper = load_arch(tmp_path / "deeper.yaml")
    assert (deeper.name, deeper.array.rows, deeper.dram.channels, deeper.derived_from) == ("mine", 64, 2,
                                                                                           "sat-vcu1525")


@pytest.mark.parametrize("text,expect", [
    ("version: 1\nbase: nope\n", "unknown preset 'nope'"),
    ("version: 1\nbase: 7\n", "base: 7"),
    ("version: 1\nbase: loop.yaml\n", "base: 'loop.yaml' is 8 levels deep"),
    ("version: 1\nbase: sat-small\narray: {rowz: 2}\n", "array.rowz: unknown field"),
    ("version: 1\nbase: sat-small\narray: {rows: true}\n", "array.rows: True"),
    ("version: 2\nbase: sat-small\n", "version: 2"),
])
def test_bad_base_files(tmp_path, text, expect):
    path = tmp_path / "loop.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expect) as err:
        load_arch(path)
    assert "\n" not in str(err.value)


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i > 1 else "*a"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nversion: 1\n")
    with pytest.raises(ConfigError, match="values once aliases are expanded"):
        load_arch(path)


def test_overlong_file_name_is_one_line():
    with pytest.raises(ConfigError, match="(?i)file name too long|not found"):
        load_arch("x" * 5000 + ".yaml")


def test_schema_covers_every_field():
    s = schema()
    assert s["properties"]["base"]["type"] == "string"
    rows = s["$defs"]["ArraySpec"]["properties"]["rows"]
    assert (rows["type"], rows["minimum"], rows["maximum"]) == ("integer", 1, 4096)
    for name, sub in s["$defs"].items():
        for field, prop in sub["properties"].items():
            assert prop.get("description"), f"{name}.{field} has no description"


@pytest.mark.parametrize("ns,mhz,cycles", [(150, 200, 30), (150.1, 200, 31), (0, 200, 0), (100, 100, 10),
                                           (70, 300, 21), (7, 300, 3), (0.1, 333, 1)])
def test_dram_latency_rounds_up_to_whole_cycles_without_float_noise(ns, mhz, cycles):
    """150 ns x 200 MHz is 30 cycles; the float product 30.000000000000004 must not round up to 31."""
    cfg = load_arch("sat-vcu1525").derive({"dram.latency_ns": float(ns), "clock_mhz": float(mhz)})
    assert cfg.dram_latency_cycles == cycles


# --- tied fields: port widths follow buffer banking; an explicit value wins and says so ----------------------------

def test_tied_port_widths_follow_the_buffer_banking():
    cfg = load_arch("sat-vcu1525")
    assert cfg.tied == ("ports.a_bytes", "ports.b_bytes", "ports.c_bytes")
    # 4 MiB / 32 KiB URAM = 128 banks x 8 B; 2 MiB = 64 x 8; C uses both ports of its 64 banks: 64 x 8 x 2
    assert (cfg.ports.a_bytes, cfg.ports.b_bytes, cfg.ports.c_bytes) == (1024, 512, 1024)
    d = cfg.derive({"buffers.b_kib": 1024, "buffers.c_kib": 4096, "buffers.a_kib": 100})
    # 1 MiB: 32 banks x 8 B; 4 MiB of C: 128 x 8 x 2; 100 KiB rounds up to 4 blocks: 32 B
    assert (d.ports.a_bytes, d.ports.b_bytes, d.ports.c_bytes) == (32, 256, 2048)
    assert "ports.b_bytes follows buffers.b_kib: 512 -> 256" in d.description
    assert d.name == "sat-vcu1525[buffers.a_kib=100,buffers.b_kib=1024,buffers.c_kib=4096]"


def test_explicit_port_width_overrides_the_tie_and_says_so():
    cfg = load_arch("sat-vcu1525")
    d = cfg.derive({"buffers.b_kib": 1024, "ports.b_bytes": 512})
    assert d.ports.b_bytes == 512 and "ports.b_bytes" not in d.tied
    assert "ports.b_bytes=512" in d.name and "ports.b_bytes=512 overrides the 256 its banking gives" in d.description
    # once untied it stays put when its buffer changes again; `banks` ties it back
    assert d.derive({"buffers.b_kib": 4096}).ports.b_bytes == 512
    assert d.derive({"ports.b_bytes": "banks"}).ports.b_bytes == 256
    assert load_arch("sat-vcu1525", ["ports.c_bytes=banks", "buffers.c_kib=512"]).ports.c_bytes == 256
    with pytest.raises(ConfigError, match="tied: cannot be set"):
        cfg.derive({"tied": []})


def test_tie_on_a_block_ram_board_and_from_a_base_file(tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text("version: 1\nbase: sat-small\nports:\n  a_bytes: banks\n")
    cfg = load_arch(spec)
    # sat-small's board has no URAM: 8 KiB over 4 KiB block RAMs = 2 banks x 8 B
    assert cfg.ports.a_bytes == 16 and cfg.tied == ("ports.a_bytes",) and cfg.ports.b_bytes == 32
    assert load_arch(spec, ["buffers.a_kib=64"]).ports.a_bytes == 128


def test_tied_width_reaches_the_simulation():
    import hwsim

    tied = load_arch("sat-vcu1525", ["buffers.b_kib=1024"])
    explicit = load_arch("sat-vcu1525", ["buffers.b_kib=1024", "ports.b_bytes=256"])
    stale = load_arch("sat-vcu1525", ["buffers.b_kib=1024", "ports.b_bytes=512"])
    run = [hwsim.simulate("resnet9", c, "bdwp", "2:8", batch=2).cycles for c in (tied, explicit, stale)]
    assert run[0] == run[1] != run[2]  # the tie reaches the engine (the stale width times differently)
    assert tied.target.b_port_bytes == 256


def test_static_power_follows_the_resources():
    small, big = load_arch("sat-vcu1525", ["array.rows=16"]), load_arch("sat-vcu1525")
    assert small.resources.ff < big.resources.ff and small.static_w < big.static_w
    assert big.static_w == pytest.approx(big.board.static_w + big.resources.ff * 5e-15 * 200e6)
