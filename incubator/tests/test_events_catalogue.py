"""The event catalogue (incubator.events.catalogue.EVENT_TYPES), its documentation (docs/events.md) and the
services that write events name the same types.

docs/events.md gives every type its own heading, `### `<type>``, followed by a `**Topic:** `<kind>:{id}``
line and a ```json example of the whole message; the tests below parse exactly that.
"""

import ast
import json
import re
from pathlib import Path

from incubator.events.catalogue import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "events.md"
APPS = ("projects", "datasets", "aimodels", "accounts", "schema_registry", "analytics")

TYPE_SHAPE = r"[a-z][a-z_]*(?:\.[a-z][a-z_]*)+"
TYPE_HEADING = re.compile(rf"^###[ \t]+`?({TYPE_SHAPE})`?[ \t]*$", re.M)
SECTION_END = re.compile(r"^#{2,3}[ \t]", re.M)
TOPIC_LINE = re.compile(r"^\*\*Topic:\*\*[ \t]+`([a-z_]+):\{id\}`", re.M)
JSON_BLOCK = re.compile(r"^```json\n(.*?)^```", re.M | re.S)
# Event types named anywhere in the prose (in backticks), by the prefixes the catalogue uses.
PREFIXES = sorted({name.split(".")[0] for name in EVENT_TYPES})
MENTION = re.compile(rf"`((?:{'|'.join(PREFIXES)})\.[a-z_]+(?:\.[a-z_]+)*)`")


def _docs() -> str:
    return DOCS.read_text(encoding="utf-8")


def _sections(text: str) -> dict[str, str]:
    """Each documented type's section: from its heading to the next level-2 or level-3 heading."""
    sections: dict[str, str] = {}
    for match in TYPE_HEADING.finditer(text):
        rest = text[match.end() :]
        end = SECTION_END.search(rest)
        assert match[1] not in sections, f"{match[1]} is documented twice"
        sections[match[1]] = rest[: end.start() if end else len(rest)]
    return sections


# --- the documentation --------------------------------------------------------------------------------------


def test_every_catalogued_type_has_a_section_and_no_other_type_has_one():
    documented = set(_sections(_docs()))
    missing = sorted(set(EVENT_TYPES) - documented)
    unknown = sorted(documented - set(EVENT_TYPES))
    assert not missing, f"types in EVENT_TYPES without a '### `type`' section in docs/events.md: {missing}"
    assert not unknown, f"docs/events.md documents types that are not in EVENT_TYPES: {unknown}"


def test_every_type_the_docs_mention_is_catalogued():
    mentioned = set(MENTION.findall(_docs()))
    assert mentioned, "the docs mention no event type at all: is MENTION still right?"
    assert not sorted(mentioned - set(EVENT_TYPES)), "docs/events.md mentions types that are not in EVENT_TYPES"


def test_each_section_names_the_catalogued_topic_and_shows_a_whole_message():
    problems = []
    for type_, section in _sections(_docs()).items():
        kind = EVENT_TYPES[type_][0] if type_ in EVENT_TYPES else None
        topic = TOPIC_LINE.search(section)
        if topic is None:
            problems.append(f"{type_}: no '**Topic:** `kind:{{id}}`' line")
        elif kind is not None and topic[1] not in kind.split("|"):
            problems.append(f"{type_}: topic {topic[1]!r} where the catalogue says {kind!r}")
        block = JSON_BLOCK.search(section)
        if block is None:
            problems.append(f"{type_}: no ```json example")
            continue
        try:
            example = json.loads(block[1])
        except ValueError as exc:
            problems.append(f"{type_}: the example is not JSON ({exc})")
            continue
        if set(example) != {"id", "type", "topic", "ts", "data"}:
            problems.append(f"{type_}: the example is not a whole message: {sorted(example)}")
        elif example["type"] != type_ or str(example["topic"]).partition(":")[0] not in str(kind).split("|"):
            problems.append(f"{type_}: the example is a {example['type']} on {example['topic']}")
        elif not isinstance(example["id"], int) or not isinstance(example["data"], dict):
            problems.append(f"{type_}: the example's id must be an integer and its data an object")
    assert not problems, "\n".join(problems)


# --- the services -------------------------------------------------------------------------------------------


def _service_files() -> list[Path]:
    files = []
    for app in APPS:
        files += [ROOT / app / "services.py"] if (ROOT / app / "services.py").exists() else []
        files += sorted((ROOT / app / "services").glob("*.py"))
    return files


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _emitted(path: Path, root: Path = ROOT) -> tuple[set[str], list[str]]:
    """The event types a services module writes: the `type=` of event_record(...), the first argument of its
    `*_event(...)` helpers and any `event=` keyword (datasets' _Progress). An argument that is neither a string
    literal nor a plain name (a helper passing its parameter on) is a problem: an f-string type escapes
    the check."""
    found: set[str] = set()
    problems: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        arguments: list[ast.expr] = [kw.value for kw in node.keywords if kw.arg == "event"]
        if name == "event_record":
            arguments += [kw.value for kw in node.keywords if kw.arg == "type"]
        elif name.endswith("_event") and node.args:
            arguments.append(node.args[0])
        for argument in arguments:
            where = f"{path.relative_to(root)}:{argument.lineno}"
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                if re.fullmatch(TYPE_SHAPE, argument.value):
                    found.add(argument.value)
                else:
                    problems.append(f"{where}: {argument.value!r} is not shaped like an event type")
            elif not isinstance(argument, ast.Name | ast.Attribute):
                problems.append(f"{where}: an event type built at run time ({ast.unparse(argument)})")
    return found, problems


def _all_emitted() -> dict[str, list[str]]:
    emitted: dict[str, list[str]] = {}
    problems: list[str] = []
    files = _service_files()
    assert {path.parent.name for path in files} == set(APPS), files
    for path in files:
        found, bad = _emitted(path)
        problems += bad
        for type_ in found:
            emitted.setdefault(type_, []).append(str(path.relative_to(ROOT)))
    assert not problems, "\n".join(problems)
    return emitted


def test_services_write_only_catalogued_types():
    emitted = _all_emitted()
    # The scan itself works: it sees the helpers' literals (job.status in _status_event's helper, the
    # progress events passed as `event=`), not only event_record's.
    assert {"job.status", "member.added", "dataset.version.progress", "user.updated"} <= set(emitted), emitted
    unknown = {type_: where for type_, where in emitted.items() if type_ not in EVENT_TYPES}
    assert not unknown, f"types written by services but not in EVENT_TYPES: {unknown}"


def test_every_catalogued_type_is_written_by_some_service():
    unused = sorted(set(EVENT_TYPES) - set(_all_emitted()))
    assert not unused, f"types in EVENT_TYPES that no service writes (stale entries?): {unused}"


def test_the_scan_ignores_policy_actions_and_sees_event_helpers(tmp_path):
    module = tmp_path / "services.py"
    module.write_text(
        "access_require(access, 'project.delete_with_work')\n"
        "POLICY = {'project.transfer_ownership': 1}\n"
        "_member_event('member.added', membership, actor)\n"
        "event_record(type='project.created', topic=t, subject_type='project', subject_id=1, payload={})\n"
        "_Progress(version, field='progress', event='dataset.version.progress', stage='processing')\n"
        "_job_event(type_, job, payload)\n"
        "_dataset_event(f'dataset.{what}', dataset, actor_id=None)\n"
    )
    found, problems = _emitted(module, tmp_path)
    assert found == {"member.added", "project.created", "dataset.version.progress"}
    assert len(problems) == 1 and "run time" in problems[0]
