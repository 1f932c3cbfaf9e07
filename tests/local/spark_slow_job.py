"""A PySpark job that runs long enough for a test to drop the client's connection under it (each task sleeps), and
whose application name the master lists, so the test can count how many times it was submitted."""

from __future__ import annotations

import time

from pyspark.sql import SparkSession


def slow(number: int) -> int:
    time.sleep(3)
    return number


if __name__ == "__main__":
    spark = SparkSession.builder.appName("faults-slow").getOrCreate()
    print("slow sum", spark.sparkContext.parallelize(range(4), 2).map(slow).sum())
