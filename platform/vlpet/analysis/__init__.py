"""Study results as pandas frames, Pareto frontiers, ablation tables, plots and the study report.

Reads the study's own durable store (``vlpet.study.store``), so it works on any study directory, finished or
still running; frontiers and tables count only trials that finished their budget unless asked otherwise.
"""

from vlpet.analysis.compare import compare
from vlpet.analysis.dominance import dominance
from vlpet.analysis.pareto import hypervolume, pareto_front
from vlpet.analysis.results import finished, load_curves, load_results, read_objectives
from vlpet.analysis.tables import ablation_table, render_table
from vlpet.analysis.report import write_study_outputs

__all__ = ["ablation_table", "compare", "dominance", "finished", "hypervolume", "load_curves", "load_results",
           "pareto_front", "read_objectives", "render_table", "write_study_outputs"]
