"""The per-trial train/eval loop run in-process or inside Ray Train workers."""
