"""A PySpark job that fails in a task on an executor: submit-spark must give its traceback and exit code."""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession


def check(number: int) -> int:
    if number == 7:
        raise ValueError(f"failing on purpose at record {number}")
    return number


if __name__ == "__main__":
    spark = SparkSession.builder.appName("failing").getOrCreate()
    print(spark.sparkContext.parallelize(range(10), 2).map(check).sum(), sys.argv[1:3])
