"""User-facing errors: one clear line naming the file/key and the problem."""


class ThesisJaxError(Exception):
  """Base class. The CLI prints `error: <message>` and exits non-zero."""


class DataError(ThesisJaxError):
  """Bad input data: missing/malformed HDF5, wrong shapes, bad values."""


class ConfigError(ThesisJaxError):
  """Bad configuration value or unknown component name."""


class OutputError(ThesisJaxError):
  """An output folder that cannot be created or written."""


class NonFiniteLossError(ThesisJaxError):
  """Training produced a NaN/inf loss; the last good checkpoint is kept."""


# Exit code of a run stopped by SIGTERM/SIGINT after saving what it can:
# sysexits' EX_TEMPFAIL ("temporary failure; retry later"). Launchers requeue
# jobs that exit with it; running the same command with resume continues.
PREEMPTED_EXIT = 75


class Preempted(ThesisJaxError):
  """Stopped by SIGTERM/SIGINT; the message says how to resume."""
  exit_code = PREEMPTED_EXIT
def lookup(table, name, what: str, key: str):
  """table[name]; an unknown name raises ConfigError listing the valid ones:
  "unknown encoder 'x' (config key phase1.encoder.name); valid names: ..."."""
  if name not in table:
    raise ConfigError(f"unknown {what} '{name}' (config key {key}); valid "
                      f"names: {', '.join(sorted(table)) or '(none)'}")
  return table[name]
