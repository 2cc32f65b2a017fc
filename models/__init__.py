"""Workloads: a small graph IR of layers with inferred shapes, a model zoo, and YAML graph files.

Imports nothing else of the project. Entry points: ``load`` (zoo name or .yaml path), ``zoo``,
``GraphBuilder`` for new graphs; ``Graph``/``Layer`` and the ops in ``models.ops`` are what consumers read.
"""

from models import zoo
from models.builder import GraphBuilder
from models.errors import ModelError
from models.graph import Graph, Layer
from models.loading import load

__all__ = ["Graph", "GraphBuilder", "Layer", "ModelError", "load", "zoo"]
