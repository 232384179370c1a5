"""Storage that survives a kill: the content-addressed stage cache, the build lock, and the atomic publish
of build/<target>/. May import only the ground floor.
"""
