"""Print the telemetra package's requirements for an image's dependency layer, one per line: the dependencies
in pyproject.toml plus those of the extras named as arguments. Images install these before they copy the
sources, so the (slow) dependency layer is reused until pyproject.toml changes.

    python requirements.py pyproject.toml [EXTRA ...] > requirements.txt
"""

import sys
import tomllib


def requirements(pyproject: str, extras: list[str]) -> list[str]:
    with open(pyproject, "rb") as handle:
        project = tomllib.load(handle)["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return wanted


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1], sys.argv[2:])))
