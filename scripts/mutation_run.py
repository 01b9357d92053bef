"""`make mutation`: mutmut 3 over the services and selectors ([tool.mutmut] in pyproject.toml), with four adaptations.

1. Services are `@transaction.atomic` functions, and mutmut 3 leaves every decorated function alone (a decorator could
   register the copies it makes twice). `transaction.atomic` is harmless there, so those functions are mutated too:
   the trampoline keeps the decorator and the original and mutated copies drop it, so each call still runs in exactly
   one atomic block.
2. mutmut copies source_paths and also_copy into mutants/ and runs the tests there; every other entry of the
   checkout (Makefile, scripts/, .venv, ...) is linked in beside them, so tests that use those files still pass.
3. Every pytest session (the stats, the clean and the forced-fail runs in this process, then one forked process per
   mutant) gets its own SQLite test database, so two mutants tested at once never share (or delete) one. It is a
   copy of a template migrated once per run, opened with --reuse-db: a mutant's session skips the migrations, which
   would otherwise cost more than most mutants' tests.
4. Those sessions all run in one process (or its forks), and pytest escapes the ids of `parametrize(..., ids=...)`
   again in each later session: a non-ASCII id then no longer matches the node id mutmut recorded (pytest exits 4,
   "not found"). Each session starts with the ids pytest cached on the marks cleared.

A run holds var/mutation.lock: two runs in one checkout would share (and delete) one mutants/. `run --fresh` first
removes mutants/ and with it every cached verdict, which goes stale when the tests change (mutmut only re-tests the
mutants of functions whose source changed).

Usage: python scripts/mutation_run.py [mutmut arguments], e.g. `run --fresh --max-children 2`, `run NAME...` (re-test
those mutants), `results`, `show NAME`, `browse`.
"""

import fcntl
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import libcst as cst
import libcst.matchers as m
import mutmut
from mutmut.mutation import file_mutation
from mutmut.mutation.trampoline import get_mutant_under_test
from mutmut.runners.harness import BadTestExecutionCommandsException, PytestRunner

MUTMUT_VERSION = "3.8.1"  # the internals patched below are those of this version (requirements-dev.txt)
ATOMIC = m.Decorator(decorator=m.Attribute(value=m.Name("transaction"), attr=m.Name("atomic")))


def _only_atomic(node: cst.CSTNode) -> bool:
    return (
        isinstance(node, cst.FunctionDef)
        and bool(node.decorators)
        and all(m.matches(decorator, ATOMIC) for decorator in node.decorators)
    )


def _mutate_atomic_functions() -> None:
    visitor = file_mutation.MutationVisitor
    skip = visitor._skip_node_and_children
    arrange = file_mutation.function_trampoline_arrangement

    def skip_node_and_children(self: Any, node: cst.CSTNode) -> bool:
        if not _only_atomic(node):
            return skip(self, node)
        # The checks mutmut makes of an undecorated function: `# pragma: no mutate` on the def, never-mutate names.
        position = self.get_metadata(file_mutation.PositionProvider, node, None)
        if position and position.start.line in self._ignored_node_lines:
            self.ignored_functions.add(node.name.value)
            return True
        return node.name.value in file_mutation.NEVER_MUTATE_FUNCTION_NAMES

    def function_trampoline_arrangement(function: cst.FunctionDef, mutants: Any, class_name: str | None) -> Any:
        declarations, nodes, assignments, names = arrange(function, mutants, class_name)
        if _only_atomic(function):
            # nodes[0] is the trampoline (decorated); the rest are the original and the mutants, called inside it.
            nodes = [nodes[0], *(node.with_changes(decorators=[]) for node in nodes[1:])]
        return declarations, nodes, assignments, names

    visitor._skip_node_and_children = skip_node_and_children
    file_mutation.function_trampoline_arrangement = function_trampoline_arrangement


SETUP_RUNS = ("", "stats", "fail", "list_all_tests", "mutant_generation")  # MUTANT_UNDER_TEST outside mutants
TEST_DATABASES = "test-db-mutant-*"  # in var/ of the checkout and of mutants/


def _make_template(template: Path) -> None:
    """Migrate a test database once, the way pytest-django does, into one self-contained file (no WAL)."""
    code = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "from django.test.utils import setup_databases\n"
        "setup_databases(verbosity=0, interactive=False, aliases={'default'})\n"
        "with connection.cursor() as cursor: cursor.execute('PRAGMA journal_mode=DELETE')\n"
        "connection.close()\n"
    )
    partial = template.with_suffix(".partial")
    env = {**os.environ, "SQLITE_TEST_DB": str(partial), "MUTANT_UNDER_TEST": ""}
    env.setdefault("DJANGO_SETTINGS_MODULE", "incubator.settings")
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    partial.replace(template)


def _forget_generated_parametrize_ids() -> None:
    """pytest keeps the ids it generates for `parametrize(..., ids=...)` on the mark itself, which outlives a session,
    and escapes them once more in the next session of the same process: an id with non-ASCII text, `[\\u4e2d]` in
    the session that recorded which tests cover which function, is `[\\\\u4e2d]` in every later one (the clean
    run, each mutant), so that node id is "not found" and pytest exits 4. Each session starts from the marks as
    written instead."""
    cwd = str(Path.cwd())
    for module in list(sys.modules.values()):
        if not str(getattr(module, "__dict__", {}).get("__file__") or "").startswith(cwd):
            continue
        holders = [module, *(value for value in vars(module).values() if inspect.isclass(value))]
        tests = [value for holder in holders for value in vars(holder).values() if inspect.isfunction(value)]
        for value in [*holders, *tests]:
            marks = vars(value).get("pytestmark", [])
            for mark in marks if isinstance(marks, list) else [marks]:
                source = getattr(getattr(mark, "mark", mark), "_param_ids_from", None)
                if source is not None and source._param_ids_generated is not None:
                    object.__setattr__(source, "_param_ids_generated", None)


class EachSession:
    """A pytest plugin for every session mutmut starts: the same test ids, and a test database of its own (a fresh
    copy of the template, named after it)."""

    sessions = 0

    def __init__(self) -> None:
        self.path: Path | None = None

    def pytest_sessionstart(self, session: Any) -> None:
        _forget_generated_parametrize_ids()
        from django.conf import settings

        database = settings.DATABASES["default"]
        if not database["ENGINE"].endswith("sqlite3"):
            return
        folder = Path.cwd() / "var"
        folder.mkdir(exist_ok=True)
        template = folder / "test-db-mutant-template.sqlite3"
        if not template.exists():
            _make_template(template)
        EachSession.sessions += 1
        self.path = folder / f"test-db-mutant-{os.getpid()}-{EachSession.sessions}.sqlite3"
        shutil.copyfile(template, self.path)
        database.setdefault("TEST", {})["NAME"] = str(self.path)
        session.config.option.reuse_db = True
        session.config.option.create_db = False

    def pytest_sessionfinish(self, session: Any) -> None:
        if self.path is None:
            return
        from django.db import connections

        connections.close_all()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _each_session() -> None:
    execute = PytestRunner.execute_pytest

    def execute_pytest(self: PytestRunner, params: list[str], **kwargs: Any) -> int:
        kwargs["plugins"] = [*kwargs.get("plugins", []), EachSession()]
        try:
            return execute(self, params, **kwargs)
        except BadTestExecutionCommandsException:
            if get_mutant_under_test() in SETUP_RUNS:
                raise
            # pytest could not run a mutant's tests (exit 4): the exception would unwind the forked child through
            # mutmut's own loop and end as exit 1, "killed". It is "suspicious" (35) instead, listed as a survivor.
            return 35

    PytestRunner.execute_pytest = execute_pytest


def _remove_test_databases() -> None:
    """Left behind by mutants stopped at their timeout, or by an interrupted run."""
    for folder in (Path("var"), Path("mutants") / "var"):
        for path in folder.glob(TEST_DATABASES):
            path.unlink(missing_ok=True)


def _link_the_rest_of_the_checkout() -> None:
    from mutmut.configuration import config

    copied = {str(path).split("/")[0] for path in [*config().source_paths, *config().also_copy]}
    mutants = Path("mutants")
    mutants.mkdir(exist_ok=True)
    for entry in Path(".").iterdir():
        link = mutants / entry.name
        if entry.name in copied | {"mutants", ".git", "var"} or link.exists() or link.is_symlink():
            continue
        link.symlink_to(entry.resolve(), target_is_directory=entry.is_dir())


def _lock_the_checkout() -> IO[str]:
    """Held until this process and the mutants it forks have exited."""
    Path("var").mkdir(exist_ok=True)
    lock = open("var/mutation.lock", "a+")  # noqa: SIM115 (open for the life of the process)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        sys.exit(f"Another mutation run (pid {lock.read().strip() or '?'}) is using mutants/ here: wait for it.")
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def main() -> None:
    if mutmut.__version__ != MUTMUT_VERSION:
        sys.exit(f"scripts/mutation_run.py patches mutmut {MUTMUT_VERSION}; found {mutmut.__version__}: check it")
    arguments = sys.argv[1:]
    running = arguments[:1] == ["run"]
    if running:
        lock = _lock_the_checkout()  # noqa: F841 (held by the open file)
        if "--fresh" in arguments:
            arguments.remove("--fresh")
            shutil.rmtree("mutants", ignore_errors=True)
        _link_the_rest_of_the_checkout()
        _remove_test_databases()
    _mutate_atomic_functions()
    _each_session()
    # Embedded defaults only: a mutant's tests run in-process, never against shared services.
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "SQLITE_TEST_DB"):
        os.environ.pop(name, None)
    from mutmut.__main__ import cli

    main_process = os.getpid()
    try:
        cli(arguments, prog_name="mutmut")
    finally:
        if running and os.getpid() == main_process:  # never in a forked mutant that unwinds through here
            _remove_test_databases()


if __name__ == "__main__":
    main()
