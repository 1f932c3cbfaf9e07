"""The Azure side of the toolkit after `pulumi up`: Azure SDK calls that find scale-set nodes, run one-off
container groups, submit Spark batches and check that `destroy` left nothing behind.

Every function takes an ``AzureSession`` and reads no global state, so the same code runs against Azure and,
in tests, against a local Resource Manager on 127.0.0.1 (``tests/azure/fake_arm.py``).
"""
