"""The data path: sources (bundled MNIST, .npz, image folders, the transfer set), the deterministic split,
transforms (scaling, resizing, normalisation) and calibration samples. May import: config, students,
the ground floor. Never distill/, report/ or stages/.
"""
