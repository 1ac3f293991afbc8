"""The Ray layer: typed study spec (this package grows the search space, runner and submission)."""

from vlpet.study.spec import Domain, StudySpec, load_study

__all__ = ["Domain", "StudySpec", "load_study"]
