"""The project config (edgedistill.yaml): its schema, how it is loaded, and the example `edgedistill init` writes.

    schema   the pydantic models (a bad key or value fails with the dotted path of the field) and constants
    loading  YAML in, paths resolved against the config's folder, one ConfigError line out
    example  the commented example config, generated from the schema's descriptions and examples

The config sits at the bottom of the pipeline: it never imports a stage (validators look registries up lazily).
"""

from __future__ import annotations

from edgedistill.pipeline.config.example import EXAMPLE_CONFIG, EXAMPLE_PROJECT, render_example
from edgedistill.pipeline.config.loading import config_from_dict, default_config, format_validation_error, load_config
from edgedistill.pipeline.config.schema import (
    CONFIG_FILENAME,
    EXPORT_FORMATS,
    AugmentConfig,
    BenchmarkConfig,
    DataConfig,
    DistillationConfig,
    ExportConfig,
    ExportFormat,
    HintConfig,
    MutualConfig,
    NormalizeConfig,
    ProjectConfig,
    PruneConfig,
    QuantizationConfig,
    RelationConfig,
    SearchConfig,
    SplitConfig,
    StudentConfig,
    SyntheticConfig,
    TeacherConfig,
)

__all__ = [
    "CONFIG_FILENAME",
    "EXAMPLE_CONFIG",
    "EXAMPLE_PROJECT",
    "EXPORT_FORMATS",
    "AugmentConfig",
    "BenchmarkConfig",
    "DataConfig",
    "DistillationConfig",
    "MutualConfig",
    "ExportConfig",
    "ExportFormat",
    "HintConfig",
    "NormalizeConfig",
    "ProjectConfig",
    "PruneConfig",
    "QuantizationConfig",
    "RelationConfig",
    "SearchConfig",
    "SplitConfig",
    "StudentConfig",
    "SyntheticConfig",
    "TeacherConfig",
    "config_from_dict",
    "default_config",
    "format_validation_error",
    "load_config",
    "render_example",
]
