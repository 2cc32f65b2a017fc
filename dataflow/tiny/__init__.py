"""The 256KB on-device training engines' scheduler side: int8 training graphs, sparse-update schemes,
operator reordering and the lifetime-based arena plan (Lin et al., "On-Device Training Under 256KB Memory")."""

from hwsim.dataflow.tiny.graph import (GraphError, Node, Precision, Saved, Tensor, TrainingGraph, TrainOp, int8_graph,
                                       training_graph)
from hwsim.dataflow.tiny.plan import ArenaPlan, Lifetime, Placement, lifetimes, live_bytes, plan_arena
from hwsim.dataflow.tiny.scheme import Scheme, SchemeError, parse_scheme, published_names

__all__ = ["ArenaPlan", "GraphError", "Lifetime", "Node", "Placement", "Precision", "Saved", "Scheme", "SchemeError",
           "Tensor", "TrainOp", "TrainingGraph", "int8_graph", "lifetimes", "live_bytes", "parse_scheme",
           "plan_arena", "published_names", "training_graph"]
