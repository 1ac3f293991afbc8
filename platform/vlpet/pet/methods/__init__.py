"""Built-in PET methods; importing this package registers them."""

from vlpet.pet.methods import vl_pet  # noqa: F401

__all__ = ["vl_pet"]
