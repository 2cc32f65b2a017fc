"""Workloads: a small graph IR of layers with inferred shapes, a model zoo, and YAML graph files.

Imports nothing else of the project. Entry points: ``load`` (zoo name or .yaml path), ``zoo``,
``GraphBuilder`` for new graphs; ``Graph``/``Layer`` and the ops in ``hwsim.models.ops`` are what consumers read.
"""

from hwsim.models import zoo
from hwsim.models.builder import GraphBuilder
from hwsim.models.errors import ModelError
from hwsim.models.graph import Graph, Layer
from hwsim.models.loading import check_source, is_topology, load, source

__all__ = ["Graph", "GraphBuilder", "Layer", "ModelError", "check_source", "is_topology", "load", "source", "zoo"]
