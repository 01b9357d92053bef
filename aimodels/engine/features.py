"""The column types a feature may have and how each is encoded: what a spec's check needs, without scikit-learn
(aimodels.engine.preprocess encodes them)."""

# The column types (datasets' names) a feature may have, by how they are encoded.
NUMBER_TYPES = ("integer", "float", "decimal", "boolean")
TEXT_TYPES = ("string", "categorical")
TEMPORAL_TYPES = ("date", "datetime")
FEATURE_TYPES = (*NUMBER_TYPES, *TEXT_TYPES, *TEMPORAL_TYPES)

NUMBER, TEXT, TEMPORAL = "number", "text", "temporal"


def kind_of(type_name: str) -> str | None:
    """How a column of this type is encoded (NUMBER, TEXT, TEMPORAL), or None when it cannot be a feature."""
    if type_name in NUMBER_TYPES:
        return NUMBER
    if type_name in TEXT_TYPES:
        return TEXT
    if type_name in TEMPORAL_TYPES:
        return TEMPORAL
    return None
