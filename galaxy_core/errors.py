"""Errors a user can cause. Each carries one sentence: what is wrong and what to do."""


class UserError(Exception):
    """A problem with the user's input (file, flag, checkpoint, upload); never a bug.

    The CLI prints the message as one line and exits with code 2; the dashboard shows it.
    """


class DataFileError(UserError):
    """A Galaxy10 file that cannot be used: not HDF5, corrupt, or not of the Galaxy10 schema."""
