"""The generator's tools: configuration, ``generate``, ``synth`` and the command line."""


def __getattr__(name):
    # Lazy, so that importing isosceles.gen.config (which hw/ does) loads no Amaranth back end.
    if name == "generate":
        from isosceles.gen.generator import generate

        return generate
    raise AttributeError(f"module 'isosceles.gen' has no attribute {name!r}")
