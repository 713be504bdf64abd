"""``python -m robotlib.cli``: the ``rpa`` command where no script is on the PATH.

The scheduler starts its child runs this way, with its own interpreter.
"""

from robotlib.cli import main

main()
