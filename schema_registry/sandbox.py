"""What the sandbox holds in the registry, and what the OpenAPI examples send against it: version 2 of
`project.extra` (a budget and a stage), and the plan that moves the sandbox's version-1 documents to it."""

EXTRA_V2 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "budget": {"type": "number", "minimum": 0, "title": "预算（元）"},
        "stage": {"enum": ["idea", "prototype", "pilot"], "default": "idea", "title": "阶段"},
    },
}
EXTRA_V1_DOCUMENT = {"预算": "50000", "联系人": "王芳"}
EXTRA_PLAN = [
    {"op": "rename_field", "path": "预算", "to": "budget"},
    {"op": "change_type", "path": "budget", "to": "number"},
    {"op": "add_field", "path": "stage", "default": "idea"},
]
# Version 2 with descriptions: only annotations differ, so every mode accepts it as the next version.
EXTRA_V2_DESCRIBED = {
    **EXTRA_V2,
    "description": "项目的扩展信息 / A project's extra fields",
    "properties": {
        "budget": {**EXTRA_V2["properties"]["budget"], "description": "人民币，元 / In yuan"},  # type: ignore[index]
        "stage": {**EXTRA_V2["properties"]["stage"], "description": "项目阶段 / The project's stage"},  # type: ignore[index]
    },
}
