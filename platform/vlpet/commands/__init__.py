"""One module per `vlpet` sub-command; each exposes ``register(subparsers)`` and ``run(args) -> int``."""
