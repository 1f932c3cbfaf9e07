"""The AWS side of the toolkit after `pulumi up`: boto3 calls that find compute nodes by tag, run one-off
container tasks and check that `destroy` left nothing behind.

Every function takes a ``boto3.session.Session`` and reads no global state, so the same code runs
against AWS and, in tests, against a local ``moto_server``.
"""
