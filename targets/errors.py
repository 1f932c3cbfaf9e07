"""The error every target raises when it cannot do what was asked; the message says what to do."""


class TargetError(RuntimeError):
    pass
