"""The failure cause of a Spark job, from the log shapes of a standalone spark-submit and of EMR steps, and from
what a real pyspark 4.x spark-submit prints (JVM warnings and log4j lines before the script's own error)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from remote.spark_failure import failure_cause, quiet_tail

USER_TRACEBACK = '''Traceback (most recent call last):
  File "/mnt/yarn/usercache/hadoop/appcache/application_1700000000000_0003/wordcount.py", line 12, in <module>
    counts = words.map(parse).collect()
  File "/mnt/yarn/usercache/hadoop/appcache/application_1700000000000_0003/wordcount.py", line 5, in parse
    raise ValueError(f"bad record: {line!r}")
ValueError: bad record: 'x\''''

# spark-submit's stdout on a standalone head when a task fails: the driver's traceback through py4j, whose Java
# error carries the executor's Python traceback (PySpark's worker frames first, then the user's).
STANDALONE_STDOUT = '''Traceback (most recent call last):
  File "/shared/.chpc/jobs/failing-1/failing.py", line 20, in <module>
    rdd.map(check).collect()
  File "/opt/venv/lib/python3.11/site-packages/pyspark/core/rdd.py", line 1700, in collect
    sock_info = self.ctx._jvm.PythonRDD.collectAndServe(self._jrdd.rdd())
  File "/opt/venv/lib/python3.11/site-packages/py4j/java_gateway.py", line 1362, in __call__
    return_value = get_return_value(
py4j.protocol.Py4JJavaError: An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 0.0 failed 1 times, most \
recent failure: Lost task 0.0 in stage 0.0 (TID 0): org.apache.spark.api.python.PythonException: \
Traceback (most recent call last):
  File "/opt/venv/lib/python3.11/site-packages/pyspark/worker.py", line 1247, in main
    process()
  File "/shared/.chpc/jobs/failing-1/failing.py", line 9, in check
    raise ValueError(f"failing on purpose at record {record}")
ValueError: failing on purpose at record 7

\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:572)
'''

# An EMR step's stderr in cluster mode: the client only learns that the application failed.
EMR_CLUSTER_MODE_STDERR = '''25/01/01 12:00:00 INFO Client: Submitting application application_1_0003 to ResourceManager
25/01/01 12:00:09 INFO Client: Application report for application_1_0003 (state: FAILED)
Exception in thread "main" org.apache.spark.SparkException: Application application_1_0003 finished with failed status
\tat org.apache.spark.deploy.yarn.Client.run(Client.scala:1290)
\tat org.apache.spark.deploy.SparkSubmit.main(SparkSubmit.scala)
'''


def test_the_python_traceback_is_cut_out_of_log_lines():
    log = ("25/01/01 12:00:00 INFO SparkContext: Running Spark version 3.5.2\n" + USER_TRACEBACK +
           "\n25/01/01 12:00:01 INFO ShutdownHookManager: Shutdown hook called\n")
    assert failure_cause(log) == USER_TRACEBACK
    iso = "2025-01-01 12:00:00,001 INFO ApplicationMaster: Final app status: FAILED"
    assert failure_cause(USER_TRACEBACK + "\n" + iso) == USER_TRACEBACK


def test_the_last_traceback_of_a_chain_is_the_cause():
    chained = ("Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'k'\n\nDuring handling of "
               "the above exception, another exception occurred:\n\n" + USER_TRACEBACK)
    assert failure_cause(chained) == USER_TRACEBACK


def test_a_task_traceback_inside_a_java_error_keeps_the_users_frames_not_pysparks():
    cause = failure_cause(STANDALONE_STDOUT)
    assert cause == ('Traceback (most recent call last):\n'
                     '  File "/shared/.chpc/jobs/failing-1/failing.py", line 9, in check\n'
                     '    raise ValueError(f"failing on purpose at record {record}")\n'
                     'ValueError: failing on purpose at record 7')


def test_pysparks_frames_stay_when_there_are_no_others():
    only_spark = ('Traceback (most recent call last):\n'
                  '  File "/opt/spark/python/lib/pyspark.zip/pyspark/worker.py", line 1247, in main\n'
                  '    process()\n'
                  'MemoryError\n')
    assert failure_cause(only_spark) == only_spark.rstrip("\n")


def test_py4j_message_lines_follow_the_exception_up_to_the_java_frames():
    py4j = ("Traceback (most recent call last):\n  File \"job.py\", line 3, in <module>\n"
            "py4j.protocol.Py4JJavaError: An error occurred while calling o45.collect.\n"
            ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 failed 4 times\n"
            "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2898)\n")
    assert failure_cause(py4j).splitlines()[-3:] == [
        '  File "job.py", line 3, in <module>',
        "py4j.protocol.Py4JJavaError: An error occurred while calling o45.collect.",
        ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 failed 4 times"]


def test_a_traceback_in_any_log_wins_over_a_java_exception_in_an_earlier_one():
    # standalone: (stdout, stderr); EMR: (driver container log, step stderr)
    assert failure_cause(EMR_CLUSTER_MODE_STDERR, USER_TRACEBACK) == USER_TRACEBACK
    assert failure_cause("", EMR_CLUSTER_MODE_STDERR) == (
        'Exception in thread "main" org.apache.spark.SparkException: Application application_1_0003 finished with '
        "failed status")


def test_the_thread_exception_comes_with_its_root_cause():
    log = ('25/01/01 INFO Client: Deleted staging directory\n'
           'Exception in thread "main" java.lang.RuntimeException: job failed\n'
           '\tat com.example.Job.main(Job.java:10)\n'
           'Caused by: java.lang.IllegalStateException: reading failed\n'
           '\tat com.example.Job.read(Job.java:20)\n'
           'Caused by: java.io.FileNotFoundException: s3://b/in does not exist\n'
           '\tat org.apache.hadoop.fs.s3a.S3AFileSystem.open(S3AFileSystem.java:1)\n')
    assert failure_cause(log) == ('Exception in thread "main" java.lang.RuntimeException: job failed\n'
                                  "  caused by java.io.FileNotFoundException: s3://b/in does not exist")


def test_without_a_thread_exception_the_last_logged_one_is_the_cause():
    log = ("25/01/01 12:00:00 WARN TaskSetManager: Lost task 0.0 in stage 0.0: java.io.IOException: reset by peer\n"
           "25/01/01 12:00:05 ERROR Executor: java.lang.OutOfMemoryError: Java heap space\n"
           "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\n")
    assert failure_cause(log) == "java.lang.OutOfMemoryError: Java heap space"


def test_logs_without_an_error_have_no_cause():
    quiet = ("25/01/01 12:00:00 INFO SparkContext: Successfully stopped SparkContext\n"
             "\tat org.example.Frame.only(Frame.java:1)\n"
             "ERROR: the word Exception alone is not a Java exception\n")
    assert failure_cause(quiet) is None
    assert failure_cause("", "") is None
    assert failure_cause() is None


def test_a_usage_line_is_the_cause_and_wins_over_a_java_exception():
    log = ("WARNING: Using incubator modules: jdk.incubator.vector\n"
           "25/01/01 12:00:00 WARN NativeCodeLoader: Unable to load native-hadoop library for your platform\n"
           "Usage: wordcount <file>\n"
           "25/01/01 12:00:01 ERROR ApplicationMaster: User application exited with status 255\n"
           "Exception in thread \"main\" org.apache.spark.SparkUserAppException: User application exited with 255\n")
    assert failure_cause(log) == "Usage: wordcount <file>"
    assert failure_cause(log, USER_TRACEBACK) == USER_TRACEBACK.rstrip("\n")  # a traceback anywhere wins


def test_argparse_usage_comes_with_its_error_line():
    log = ("usage: top.py [-h] [--top N]\n              input\n"
           "top.py: error: the following arguments are required: input\n"
           "25/01/01 12:00:01 INFO ShutdownHookManager: Shutdown hook called\n")
    assert failure_cause(log) == ("usage: top.py [-h] [--top N]\n              input\n"
                                  "top.py: error: the following arguments are required: input")


def test_exceptions_logged_at_info_or_warn_are_not_the_cause():
    log = ("25/01/01 12:00:00 WARN Utils: Service 'SparkUI' could not bind: java.net.BindException: Address in use\n"
           "2025-01-01 12:00:00,001 INFO Client: retrying after java.io.IOException: reset\n")
    assert failure_cause(log) is None
    assert quiet_tail(log, "WARNING: Using incubator modules: jdk.incubator.vector\nlast words\n") == "last words"


def spark_submit(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """A real spark-submit of ``script`` on one local JVM, with Spark's default log4j profile (INFO and WARN lines,
    as on EMR and HDInsight) and this venv's Python."""
    spec = importlib.util.find_spec("pyspark")
    assert spec is not None and spec.origin is not None
    home = Path(spec.origin).parent
    path = tmp_path / "job.py"
    path.write_text(script)
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("SPARK_CONF_DIR", None)
    return subprocess.run([str(home / "bin" / "spark-submit"), "--master", "local[1]", "--conf",
                           "spark.ui.enabled=false", str(path)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)


def test_a_real_driver_traceback_behind_jvm_warnings_and_log4j_lines(tmp_path: Path):
    run = spark_submit(tmp_path, (
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.appName('warned').getOrCreate()\n"
        "def parse(n):\n"
        "    raise KeyError(f'no column {n}')\n"
        "spark.sparkContext.parallelize([3], 1).map(parse).collect()\n"))
    assert run.returncode != 0
    # what comes before the script's error: the JVM's warning and Spark's own log lines
    assert run.stderr.startswith("WARNING: Using incubator modules: jdk.incubator.vector")
    assert " WARN NativeCodeLoader: " in run.stderr and " INFO SparkContext: " in run.stderr
    for logs in ((run.stdout, run.stderr), (run.stderr + run.stdout,), (run.stderr,)):
        cause = failure_cause(*logs)
        assert cause is not None, logs
        assert cause.splitlines()[0] == "Traceback (most recent call last):"
        assert cause.splitlines()[-1] == "KeyError: 'no column 3'"
        assert "job.py\", line 4, in parse" in cause


def test_a_real_usage_failure_gives_the_usage_line_not_the_jvm_warning(tmp_path: Path):
    run = spark_submit(tmp_path, (
        "import sys\n"
        "from pyspark.sql import SparkSession\n"
        "if len(sys.argv) != 2:\n"
        "    print('Usage: wordcount <file>', file=sys.stderr)\n"
        "    sys.exit(-1)\n"))
    assert run.returncode == 255
    assert run.stderr.startswith("WARNING: Using incubator modules")
    assert failure_cause(run.stdout, run.stderr) == failure_cause(run.stderr + run.stdout) == (
        "Usage: wordcount <file>")
