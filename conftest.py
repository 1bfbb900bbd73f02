import ast
import gc
import sys
import threading
from typing import Any

pytest_plugins = ["telemetra.dev.localstack.pytest_kafka"]


def _guard_ast_parse() -> None:
    """CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so a second
    ``ast.parse`` while one is building its tree fails with "SystemError: AST constructor recursion depth
    mismatch" (python/cpython#106905, fixed in 3.12). Tests hit it two ways: another thread parsing (servers run
    in threads, and 3.11 parses to place the ``^^^`` under a traceback), and a finalizer run by a collection in
    the middle of a parse that prints a traceback (py4j's ``__del__`` logging to a closed stream did, under a
    Hypothesis lambda description). So parses take turns, with the collector paused."""
    parse = ast.parse
    lock = threading.RLock()

    def guarded_parse(*args: Any, **kwargs: Any) -> Any:
        with lock:
            enabled = gc.isenabled()
            gc.disable()
            try:
                return parse(*args, **kwargs)
            finally:
                if enabled:
                    gc.enable()

    ast.parse = guarded_parse


if sys.version_info < (3, 12):
    _guard_ast_parse()
