"""ONNX graphs to the IR: the converter core (``convert``), static evaluation (``static``), patterns spelled out
over several nodes (``patterns``) and the op handlers (``nn``, ``elementwise``, ``layout``), one per ONNX op type,
registered in ``registry``. ``hwsim.models.onnx_import`` reads the file and calls ``convert.convert``.
"""
