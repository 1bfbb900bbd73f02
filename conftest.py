import ast
import sys
import threading
from typing import Any

pytest_plugins = ["telemetra.localstack.pytest_plugin"]


def _serialise_ast_parse() -> None:
    """CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so two threads in
    ``ast.parse`` at once (a collection running Python callbacks lets the GIL switch mid-parse) fail with
    "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905, fixed in 3.12). Tests run
    servers in threads while the main thread formats tracebacks and Hypothesis describes lambdas, both of which
    parse; one lock makes those parses take turns."""
    parse = ast.parse
    lock = threading.RLock()

    def serialised_parse(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    ast.parse = serialised_parse


if sys.version_info < (3, 12):
    _serialise_ast_parse()
