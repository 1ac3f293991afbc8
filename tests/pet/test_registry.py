"""The method registry keeps its promises: every registered method is found by module name, declares its options
in its own module, and has a conformance class in the test suite."""

import importlib
import inspect
import pathlib

from vlpet.pet.options import MethodOptions
from vlpet.pet.registry import registered_methods
from vlpet.testing.conformance import MethodConformance
from vlpet.trial_config import TrialConfig, field_help

TESTS = pathlib.Path(__file__).parent


def conformance_classes() -> list[type]:
    found = []
    for path in sorted(TESTS.glob("test_method_*.py")):
        module = importlib.import_module(f"tests.pet.{path.stem}")
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if issubclass(cls, MethodConformance) and cls is not MethodConformance]
    return found


def test_every_registered_method_has_a_conformance_class():
    covered = {cls.method for cls in conformance_classes()}
    missing = sorted(set(registered_methods()) - covered)
    assert not missing, f"registered PET methods without a MethodConformance subclass in tests/pet: {missing}"


def test_every_method_module_registers_one_record_with_its_options_declared_there():
    for name, method in registered_methods().items():
        module = inspect.getmodule(method.apply)
        assert module.__name__.startswith("vlpet.pet.methods."), name
        assert issubclass(method.options, MethodOptions)
        if method.options is not MethodOptions:
            assert method.options.__module__ == module.__name__, f"{name}: options declared outside its module"


def test_method_keys_are_flat_trial_keys_with_help():
    help_text = field_help()
    for method in registered_methods().values():
        for key in method.options.keys():
            assert key in TrialConfig.keys() and help_text[key], key


def test_a_size_knob_is_an_integer_key_the_method_reads():
    for name, method in registered_methods().items():
        if method.size_knob is not None:
            assert method.size_knob in method.keys, name
            config = TrialConfig.from_dict({"backbone": "tiny-bart", "method": name})
            assert isinstance(config.to_dict()[method.size_knob], int), name
