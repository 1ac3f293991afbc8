"""vlpet.checks: each check returns the (coerced) value or raises ConfigError with the message users read."""

import pytest

from vlpet import checks
from vlpet.errors import ConfigError


@pytest.mark.parametrize(
    "call, value",
    [
        (lambda: checks.number("lr", "1e-3"), 1e-3),
        (lambda: checks.number("workers", 2), 2),
        (lambda: checks.finite_float("lr", 1), 1.0),
        (lambda: checks.integer("heads", 4), 4),
        (lambda: checks.string("name", "x"), "x"),
        (lambda: checks.boolean("text_only", False), False),
        (lambda: checks.mapping("trial", None), {}),
        (lambda: checks.allowed("mode", "max", ("max", "min")), "max"),
        (lambda: checks.positive_int("search.max_failures", 0, 100, low=0), 0),
        (lambda: checks.in_range("seed", None, 0, 9, "from 0 to 9"), None),
        (lambda: checks.fraction("dropout", 0.0), 0.0),
        (lambda: checks.positive("lr", 1e-9), 1e-9),
        (lambda: checks.non_negative("weight_decay", 0), 0),
        (lambda: checks.of_type("dropout", "float", "0.5"), 0.5),
        (lambda: checks.of_type("placement", "list[str] | None", ["a"]), ["a"]),
    ],
)
def test_a_good_value_comes_back_coerced(call, value):
    result = call()
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: checks.fail("a.b", "broken"), "a.b: broken"),
        (lambda: checks.number("lr", "fast"), "lr: expected a finite number, got 'fast'"),
        (lambda: checks.number("lr", 10**400), "lr: expected a finite number, got 100000000000000000...0000000000000000000"),
        (lambda: checks.number("lr", float("nan")), "lr: expected a finite number, got nan"),
        (lambda: checks.number("lr", True), "lr: expected a finite number, got True"),
        (lambda: checks.integer("heads", 4.0), "heads: expected an integer, got 4.0"),
        (lambda: checks.integer("heads", True), "heads: expected an integer, got True"),
        (lambda: checks.string("name", 3), "name: expected a string, got 3"),
        (lambda: checks.boolean("log", "yes"), "log: expected true or false, got 'yes'"),
        (lambda: checks.mapping("trial", [1]), "trial: expected a mapping, got [1]"),
        (lambda: checks.no_unknown_keys("resources", {"gpus": 1, 2: 0}, ("workers", "cpus_per_worker")),
         "resources: unknown key(s) ['2', 'gpus']; allowed: workers, cpus_per_worker"),
        (lambda: checks.allowed("search.algorithm", "bayes", ("tpe", "grid"), heading="allowed"),
         "search.algorithm: 'bayes' is not allowed; allowed: tpe, grid"),
        (lambda: checks.allowed("init", ["x"], ("normal",)), "init: ['x'] is not allowed; allowed values: normal"),
        (lambda: checks.positive_int("search.num_samples", 0, 100), "search.num_samples: expected a positive integer of at most 100, got 0"),
        (lambda: checks.positive_int("n", "2", 100, low=0), "n: expected a non-negative integer of at most 100, got '2'"),
        (lambda: checks.in_range("bottleneck", 0, 1, 8, "a positive integer of at most 8"),
         "bottleneck: must be a positive integer of at most 8, got 0"),
        (lambda: checks.fraction("dropout", 1.0), "dropout: must be in [0, 1), got 1.0"),
        (lambda: checks.positive("lr", 0), "lr: must be positive, got 0"),
        (lambda: checks.non_negative("grad_clip", -1.5), "grad_clip: must be non-negative, got -1.5"),
        (lambda: checks.of_type("epochs", "int | None", "ten"), "epochs: expected an integer, got 'ten'"),
    ],
)
def test_a_bad_value_is_named_with_what_is_allowed(call, message):
    with pytest.raises(ConfigError) as error:
        call()
    assert str(error.value) == message


def test_predicates_never_raise():
    assert checks.is_int(3) and not checks.is_int(True) and not checks.is_int(3.0)
    assert checks.is_finite(1.5) and not checks.is_finite(10**400) and not checks.is_finite(float("inf"))
    assert checks.coerce_float("2") == 2.0 and checks.coerce_float("two") == "two" and checks.coerce_float(None) is None
    assert checks.unknown_keys({"b": 1, 1: 2, None: 3, "a": 4}, ["a"]) == ["1", "None", "b"]


def test_coerce_fields_checks_a_dataclass_by_its_annotations():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Options:
        rank: int | None = None
        dropout: float = 0.1
        name: str | None = None

        def __post_init__(self):
            checks.coerce_fields(self)

    options = Options(rank="none", dropout="5e-2", name="none")
    assert options == Options(rank=None, dropout=0.05, name="none")     # "none" is a word for a str field
    with pytest.raises(ConfigError, match="^rank: expected an integer, got 2.5$"):
        Options(rank=2.5)
