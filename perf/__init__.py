"""The paper-scale performance model: ISOSceles, SparTen and Fused-Layer on the paper's sparse
CNNs, analytically; and the cycle model of the RTL's core on a drawn layer (``core_cycles``),
which ``predict_layer_cycles`` calibrates against the RTL. It sits above the configuration, the
numerics and the band tiling, beside ``hw`` and ``golden``, and below ``gen`` (the command
line)."""
