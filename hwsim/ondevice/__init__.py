"""The 256KB on-device training engines, hardware side: MCU and NPU targets, their cost models, the QAS
functional step and the ``hwsim.tiny`` API (the scheduler side lives in ``hwsim.dataflow.tiny``)."""
