"""vlpet: a Ray-based hyperparameter and ablation platform for vision-and-language PET (VL-PET)."""

__version__ = "0.1.0"
__all__ = ["__version__", "load_adapter"]


def __getattr__(name: str):
    """Lazy exports: ``vlpet.load_adapter`` imports torch and transformers only when first used."""
    if name == "load_adapter":
        from vlpet.artifacts.load import load_adapter

        return load_adapter
    raise AttributeError(f"module 'vlpet' has no attribute {name!r}")
