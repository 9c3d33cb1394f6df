"""Print the requirements of one optional extra of pyproject.toml, one per line.

    pip install -r <(python .ci/extra_requirements.py docs)

Installs an extra's dependencies into an environment that already has the
package, without building the package again (``pip install ".[docs]"`` would).
"""

import sys
from pathlib import Path

import tomllib

pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
with pyproject.open("rb") as fh:
    extras = tomllib.load(fh)["project"]["optional-dependencies"]
print("\n".join(extras[sys.argv[1]]))
