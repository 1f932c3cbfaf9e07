"""Word count: every lowercase word (``[a-z0-9']+``) of the input, as ``word<TAB>count`` lines sorted by word.

Usage: spark-submit wordcount.py INPUT OUTPUT (INPUT a file or folder of text, OUTPUT a folder that must not
exist; `invoke submit-spark --script examples/spark/wordcount.py --input ... --output ...` passes both).
The DataFrame API keeps the work in the JVM; Spark lowercases with Java's rules, which match Python's for
ASCII text (the shipped and generated inputs).
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main(source: str, target: str) -> None:
    spark = SparkSession.builder.appName("wordcount").getOrCreate()
    words = (spark.read.text(source)
             .select(F.explode(F.split(F.lower("value"), "[^a-z0-9']+")).alias("word"))
             .where(F.col("word") != ""))
    counts = words.groupBy("word").count().orderBy("word")
    counts.select(F.concat_ws("\t", "word", F.col("count").cast("string"))).write.text(target)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:3])
