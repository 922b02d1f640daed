"""The paper-scale performance model: ISOSceles, SparTen and Fused-Layer on the paper's sparse
CNNs, analytically. It sits above the configuration and the numerics, beside ``hw`` and
``golden``, and below ``gen`` (the command line)."""
