"""The data path: sources decoded once into memory-mapped stores, the deterministic split (row numbers into
the stores), streaming statistics, batches through the DataLoader, transforms (scaling, resizing,
normalisation) and calibration samples. May import: config, students, the ground floor. Never
distill/, report/ or stages/.
"""
