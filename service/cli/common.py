"""What every command shares: exit statuses and how a command's parser is made."""

from __future__ import annotations

import argparse
from collections.abc import Callable

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_CODES = """exit status:
  0    success
  1    failure: a record rejected, the store unreachable, the eval gate failed
  2    usage error (unknown command, bad or missing argument, invalid claim)
  130  interrupted (Ctrl-C)"""

# command(name, help, examples) -> the command's parser, with --store already on it.
Command = Callable[[str, str, str], argparse.ArgumentParser]
