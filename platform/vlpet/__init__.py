"""vlpet: a Ray-based hyperparameter and ablation platform for vision-and-language PET (VL-PET)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
