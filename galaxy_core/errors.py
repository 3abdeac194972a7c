"""Errors a user can cause. Each carries one sentence: what is wrong and what to do."""


class UserError(Exception):
    """A problem with the user's input (file, flag, checkpoint, upload); never a bug.

    The CLI prints the message as one line and exits with code 2; the dashboard shows it.
    """


class DataFileError(UserError):
    """A Galaxy10 file that cannot be used: not HDF5, corrupt, or not of the Galaxy10 schema."""


def one_sentence(exc: UserError) -> str:
    """The error's sentence. A DataLoader worker re-raises ours with its traceback folded into the message
    ("Caught DataFileError in DataLoader worker process 0. Original Traceback ..."): keep our last line."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(exc).__name__
    last = lines[-1]
    prefix = f"{type(exc).__module__}.{type(exc).__name__}: "
    return last[len(prefix):] if last.startswith(prefix) else last
