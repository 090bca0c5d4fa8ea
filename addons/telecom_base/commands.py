"""Sub-commands of ``telecom`` owned by telecom_base (none yet)."""


def register(subparsers):
    pass
