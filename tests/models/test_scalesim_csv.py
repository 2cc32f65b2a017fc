"""SCALE-Sim topology CSVs: both forms read as hand-worked graphs; export and re-import keep every weight layer."""
import pytest

from hwsim.models import GraphBuilder, ModelError, load, zoo
from hwsim.models.ops import Conv2d, Linear, Relayout
from hwsim.models.scalesim import dumps, parse

CONV = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 34, 34, 3, 3, 3, 16, 1,
Conv2, 32, 32, 3, 3, 16, 32, 2,
Conv3 DP, 17, 17, 3, 3, 32, 1, 1,
FC, 1, 1, 1, 1, 32, 10, 1, 2:4,
"""


def test_conv_form_reads_as_unpadded_convs_joined_where_shapes_do_not_chain():
    topo = parse(CONV, name="net")
    layers = {layer.name: layer for layer in topo.graph.layers}
    assert layers["Conv1"].op == Conv2d(3, 16, (3, 3), (1, 1), (0, 0))  # 34 -> 32: chains into Conv2
    assert layers["Conv1"].out_shape == (16, 32, 32) and layers["Conv2"].inputs == ("Conv1",)
    # SCALE-Sim's ceil((32 - 3) / 2) + 1 = 16 outputs (a partial last window): padding 1 gives it in floor mode
    assert layers["Conv2"].op == Conv2d(16, 32, (3, 3), (2, 2), (1, 1)) and layers["Conv2"].out_shape == (32, 16, 16)
    assert layers["Conv3 DP.relayout"].op == Relayout((32, 17, 17))  # the table's next IFMAP, not 15x15
    assert layers["Conv3 DP"].op == Conv2d(32, 32, (3, 3), (1, 1), (0, 0), groups=32)  # one filter per channel
    assert layers["FC"].op == Conv2d(32, 10, (1, 1))
    assert topo.sparsity == {"FC": "2:4"}
    assert topo.graph.macs == 16 * 32 * 32 * 27 + 32 * 16 * 16 * 144 + 32 * 15 * 15 * 9 + 320


GEMM = """Layer, M, N, K,
qkv, 128, 2304, 768, 1:1,
proj, 128, 768, 768, 2:4,
other, 64, 10, 50,
"""


def test_gemm_form_reads_as_linears_on_m_rows():
    topo = parse(GEMM)
    layers = {layer.name: layer for layer in topo.graph.layers}
    assert topo.graph.input_shape == (128, 768)
    assert layers["qkv"].op == Linear(768, 2304, bias=False) and layers["qkv"].out_shape == (128, 2304)
    assert layers["proj"].in_shapes == ((128, 768),) and layers["proj.relayout"].op == Relayout((128, 768))
    assert layers["other"].op == Linear(50, 10, bias=False)
    assert topo.sparsity == {"proj": "2:4"}  # 1:1 is dense
    assert topo.graph.macs == 128 * 2304 * 768 + 128 * 768 * 768 + 64 * 10 * 50


@pytest.mark.parametrize("text,message", [
    ("", "header: missing"),
    ("Layer name, IFMAP Height,\nx, 1,\n", "header"),
    ("Layer, M, N, K,\n", "rows: none"),
    ("Layer, M, N, K,\nx, 4, 0, 2,\n", r"line 2\.N: '0'"),
    ("Layer, M, N, K,\nx, 4, 4,\n", "line 2: 3 fields"),
    ("Layer, M, N, K,\nx, 4, 4, 4, 5:4,\n", r"line 2\.Sparsity: '5:4'"),
    (CONV.splitlines()[0] + "\nc, 3, 3, 5, 5, 1, 1, 1,\n", "filter 5x5 larger than the IFMAP 3x3"),
])
def test_bad_topologies_fail_on_one_line(text, message):
    with pytest.raises(ModelError, match=message) as info:
        parse(text)
    assert "\n" not in str(info.value)


def test_export_round_trip_keeps_every_conv_and_linear():
    graph = zoo.build("resnet18", 64, 200)
    again = parse(dumps(graph)).graph
    weighted = [layer.macs for layer in graph.weighted_layers]  # biases are not in a topology
    assert [layer.macs for layer in again.weighted_layers] == weighted and len(weighted) == 21


def test_export_writes_the_read_extent_so_both_output_conventions_agree():
    b = GraphBuilder("s", (3, 224, 224))
    b.conv("input", 64, 7, stride=2, padding=3, name="stem")  # 230 padded, but the windows read 229
    row = dumps(b.build()).splitlines()[1]
    assert row == "stem, 229, 229, 7, 7, 3, 64, 2, 1:1,"  # SCALE-Sim: ceil(222 / 2) + 1 = 112 = floor
    assert parse(dumps(b.build())).graph.layers[0].out_shape == (64, 112, 112)


def test_export_writes_padding_into_the_ifmap_and_depthwise_as_dp():
    b = GraphBuilder("m", (8, 10, 10))
    x = b.conv("input", 8, 3, groups=8, name="dw")  # padding 1: a 12x12 IFMAP
    b.linear(b.flatten(x), 4, name="fc")
    rows = dumps(b.build()).splitlines()
    assert rows[1] == "dw DP, 12, 12, 3, 3, 8, 1, 1, 1:1,"
    assert rows[2] == "fc, 1, 1, 1, 1, 800, 4, 1, 1:1,"
    assert dumps(b.build(), "gemm").splitlines()[1:] == ["dw.g0, 100, 1, 9, 1:1,"] + [
        f"dw.g{g}, 100, 1, 9, 1:1," for g in range(1, 8)] + ["fc, 1, 4, 800, 1:1,"]


def test_a_csv_file_costs_what_the_same_network_in_yaml_costs(tmp_path):
    import hwsim

    (tmp_path / "net.csv").write_text(CONV.replace(", 2:4,", ","))  # no sparsity column: --nm decides
    (tmp_path / "net.yaml").write_text("""name: net
input: [3, 34, 34]
layers:
  - {name: Conv1, op: conv2d, out_channels: 16, kernel: 3}
  - {name: Conv2, op: conv2d, out_channels: 32, kernel: 3, stride: 2, padding: 1}
  - {name: Conv3 DP.relayout, op: relayout, shape: [32, 17, 17]}
  - {name: Conv3 DP, op: conv2d, out_channels: 32, kernel: 3, groups: 32}
  - {name: FC.relayout, op: relayout, shape: [32, 1, 1]}
  - {name: FC, op: conv2d, out_channels: 10, kernel: 1}
""")
    assert load(str(tmp_path / "net.csv")) == load(str(tmp_path / "net.yaml"))
    a = hwsim.simulate(str(tmp_path / "net.csv"), "sat-vcu1525", "bdwp", "2:8", 4)
    b = hwsim.simulate(str(tmp_path / "net.yaml"), "sat-vcu1525", "bdwp", "2:8", 4)
    assert a.cycles == b.cycles and a.energy_j == b.energy_j and a.cycles > 0


def test_the_sparsity_column_sets_each_layers_n_m_for_sparse_methods(tmp_path):
    import hwsim

    path = tmp_path / "s.csv"
    path.write_text("Layer, M, N, K,\na, 64, 64, 64, 1:1,\nb, 64, 64, 64, 2:8,\nc, 64, 64, 64, 1:4,\n")
    res = hwsim.simulate(str(path), "sat-vcu1525", "srste", "2:4", 1, phases="ff")
    assert list(res.ops.nm) == ["", "2:8", "1:4"]  # the column, not --nm; c is the last layer, sparse anyway
    assert list(res.ops.macs) == [64 ** 3, 64 ** 3 // 4, 64 ** 3 // 4]
    dense = hwsim.simulate(str(path), "sat-vcu1525", "dense", None, 1, phases="ff")
    assert list(dense.ops.nm) == ["", "", ""]  # the dense baseline stays dense
    plain = tmp_path / "p.csv"
    plain.write_text("Layer, M, N, K,\na, 64, 64, 64,\nb, 64, 64, 64,\nc, 64, 64, 64,\n")
    res = hwsim.simulate(str(plain), "sat-vcu1525", "srste", "2:4", 1, phases="ff")
    assert list(res.ops.nm) == ["", "2:4", ""]  # no column: --nm, first layer and classifier dense
