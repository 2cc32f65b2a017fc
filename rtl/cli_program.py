"""`hwsim rtl --program MODEL --op NAME`: one op's tile program, the layer machine's Verilog and its timing."""
import json
from dataclasses import replace


def run_program(args, cfg, bad) -> int:
    """Lower the op, size the layer machine to it, write program.json (+ sat_layer.v); print the timing."""
    from hwsim.dataflow.lowering import Lowering, lower as lower_graph
    from hwsim.dataflow.ops import GemmOp
    from hwsim.dataflow.sparsity import SparsityError, resolve
    from hwsim.rtl.export import _convert
    from hwsim.rtl.layer import LayerParams, SATLayer
    from hwsim.rtl.params import CoreParams
    from hwsim.rtl.program import encode, lower, predict
    from hwsim.simulation import _graph, build_schedule

    if not args.op:
        bad("op: missing (expected --op NAME with --program)", "--op")
    if args.batch < 1:
        bad(f"batch: {args.batch} (expected >= 1)", "--batch")
    try:
        meth, spec = resolve(args.method, None if args.method == "dense" else args.nm)
    except SparsityError as exc:
        bad(str(exc), "--method")
    graph = _graph(args.program, args.resolution, None)
    ops = lower_graph(graph, Lowering(meth, spec, args.batch, elem_bytes=cfg.precision.operand_bytes))
    found = [op for op in ops if op.name == args.op]
    if not found or not isinstance(found[0], GemmOp):
        names = [op.name for op in ops if isinstance(op, GemmOp)]
        bad(f"op: {args.op!r} is not a GEMM of {graph.name} (expected one of: {', '.join(names[:8])}, ...)", "--op")
    op = found[0]
    dataflows = (args.dataflow,) if args.dataflow else ("os", "ws")
    sched = build_schedule([op], cfg, True, False, dataflows=dataflows)
    mp = sched.mappings[0]
    target = replace(cfg.target, interleave=True)
    core = CoreParams.from_config(cfg, str(op.nm) if op.nm else "dense")  # errors name field and value (exit 2)
    probe = lower(op, mp, target, LayerParams(core, 1 << 24, 1 << 24, 1 << 24, 1 << 24))
    lp = LayerParams(core, **probe.need())  # buffers sized to the op
    prog = lower(op, mp, target, lp)
    pred = predict(prog, lp, cfg.dram_bytes_per_cycle, cfg.dram_latency_cycles)
    info = {"arch": cfg.name, "model": graph.name, "op": op.name, "m": op.m, "k": op.k, "n": op.n,
            "nm": str(op.nm) if op.nm else "dense", "mapping": vars(mp),
            "tiles": len(prog), "buffers": prog.need(),
            "simulator": {"cycles": pred["sim"][0], "busy": pred["sim"][1]},
            "rtl": {"cycles": pred["rtl"][0], "busy": pred["rtl"][1]}, "bound": pred["bound"],
            "commands": [{k: v for k, v in c.items() if not k.startswith("_")} for c in prog.commands],
            "words": [str(encode(c, lp)) for c in prog.commands]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "program.json").write_text(json.dumps(info, indent=1) + "\n")
    (args.out / "sat_layer.v").write_text(_convert(SATLayer(lp), "sat_layer"))
    if args.json:
        print(json.dumps({k: v for k, v in info.items() if k not in ("commands", "words")}, indent=2))
        return 0
    print(f"{graph.name} {op.name} (m {op.m}, k {op.k}, n {op.n}, {info['nm']}) on {cfg.name}: {mp.dataflow} "
          f"{mp.m_t}x{mp.k_t}x{mp.n_t} order {mp.order}, {len(prog)} tiles; simulator {pred['sim'][0]} cycles "
          f"({pred['sim'][1]} busy), layer machine {pred['rtl'][0]} ({pred['rtl'][1]} busy), bound "
          f"{pred['bound']} -> {args.out}/program.json, sat_layer.v")
    return 0
