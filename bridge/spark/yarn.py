"""spark="yarn": the Hadoop client configuration, and this project's jars on the cluster's file system.

    export HADOOP_CONF_DIR=/etc/hadoop/conf          # core-site.xml, yarn-site.xml (hdfs-site.xml) of the cluster
    with bridge.spark.session("yarn", conf={"spark.yarn.jars": bridge.spark.yarn.upload_jars()}) as s:
        bridge.fit(net, x, y, spark=s)

Client deploy mode: the driver is this process's JVM, the ApplicationMaster and the executors run in YARN
containers from the jars of spark.yarn.jars: Spark's own (spark-yarn's ExecutorLauncher is the AM's main class),
DL4J's, ND4J's and this project's. By default Spark uploads them from this machine into every application's staging
folder (~0.5 GB); upload_jars() copies them into HDFS once, and NodeManagers then cache them between applications.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

from ..errors import DataError, JavaError, SparkError, java_errors
from ..jvm import CACHE_DIR, VERSION, jclass
from .jars import shipped_jars

__all__ = [
    "ARCHIVE_KEY",
    "hadoop_conf_dirs",
    "hadoop_configuration",
    "hadoop_settings",
    "jars_archive",
    "upload_jars",
]

ARCHIVE_KEY = "spark.yarn.archive"


CONF_VARIABLES = ("HADOOP_CONF_DIR", "YARN_CONF_DIR")
SITE_FILES = ("core-site.xml", "hdfs-site.xml", "yarn-site.xml", "mapred-site.xml")


def hadoop_conf_dirs(environ=None) -> list[Path]:
    """The folders named by $HADOOP_CONF_DIR and $YARN_CONF_DIR, as spark-submit reads them (each may be unset)."""
    environ = os.environ if environ is None else environ
    dirs = []
    for name in CONF_VARIABLES:
        if environ.get(name):
            folder = Path(environ[name])
            if not folder.is_dir():
                raise DataError(f"${name} is {environ[name]!r}, which is not a folder: point it at the cluster's conf.")
            if folder not in dirs:
                dirs.append(folder)
    return dirs


def hadoop_configuration(environ=None) -> dict[str, str]:
    """Every property of the *-site.xml files in $HADOOP_CONF_DIR / $YARN_CONF_DIR (later folders win)."""
    dirs = hadoop_conf_dirs(environ)
    if not dirs:
        raise DataError(
            "Received master='yarn', but neither HADOOP_CONF_DIR nor YARN_CONF_DIR is set: set one to the folder "
            "holding the cluster's core-site.xml and yarn-site.xml (as for spark-submit --master yarn)."
        )
    properties: dict[str, str] = {}
    for folder in dirs:
        for name in SITE_FILES:
            if (folder / name).is_file():
                properties.update(_site_properties(folder / name))
    if not any(key.startswith("yarn.resourcemanager.") for key in properties):
        raise DataError(
            f"No yarn-site.xml in {', '.join(map(str, dirs))} names a ResourceManager (yarn.resourcemanager.address "
            "or .hostname): is HADOOP_CONF_DIR/YARN_CONF_DIR the cluster's client configuration?"
        )
    return properties


def _site_properties(path: Path) -> dict[str, str]:
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise DataError(f"{path} is not a readable Hadoop configuration file ({exc}).") from exc
    found = {}
    for prop in root.iter("property"):
        name, value = prop.findtext("name"), prop.findtext("value")
        if name and value is not None:
            found[name.strip()] = value.strip()
    return found


def hadoop_settings(environ=None) -> dict[str, str]:
    """The cluster's Hadoop configuration as spark.hadoop.* settings. Spark gives those to its YARN client and
    ships them to the ApplicationMaster and executors (__spark_hadoop_conf__.xml), whether or not this JVM was
    started with the configuration folder on its classpath (as spark-submit would start it)."""
    return {f"spark.hadoop.{key}": value for key, value in hadoop_configuration(environ).items()}


@contextlib.contextmanager
def _hadoop_errors(context: str):
    thread = jclass("java.lang.Thread").currentThread()
    if thread.getContextClassLoader() is None:  # JPype-attached threads have none; Hadoop's FileSystem needs one
        thread.setContextClassLoader(jclass("java.lang.ClassLoader").getSystemClassLoader())
    try:
        with java_errors(context):
            yield
    except JavaError as error:
        raise SparkError(str(error)) from error


def jars_archive() -> Path:
    """One uncompressed zip of the jars executors need (bridge.spark.managers.shipped_jars), at its root: what
    spark.yarn.archive takes. Built once per set of jars, in the cache folder. One file, because HDFS spends a
    fixed ~0.3 s closing each file it writes: 240 jars took 70 s to upload into the test HDFS, one zip of the same
    bytes 2 s."""
    jars = [Path(j) for j in shipped_jars()]
    key = hashlib.sha256("\n".join(f"{j}:{j.stat().st_size}:{j.stat().st_mtime_ns}" for j in jars).encode())
    archive = CACHE_DIR / "yarn" / f"dl4j-bridge-jars-{key.hexdigest()[:16]}.zip"
    if archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(f".{os.getpid()}.partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as zf:
            for jar in jars:
                zf.write(jar, jar.name)
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)
    for old in archive.parent.glob("dl4j-bridge-jars-*.zip"):  # archives of earlier builds
        if old != archive:
            old.unlink(missing_ok=True)
    return archive


def upload_jars(target: str | None = None, environ=None) -> dict[str, str]:
    """Copy the jars executors need (jars_archive()) into the cluster's default file system once, and return the
    setting that points Spark at them: session("yarn", conf=upload_jars()). Without it, Spark uploads the archive
    from this machine into each application's staging folder.

    target: a folder URI; default `/user/USER/.dl4j-bridge/VERSION` on the default file system (fs.defaultFS of
    $HADOOP_CONF_DIR). An archive already there with the same name and size is not copied again. It is
    world-readable, so NodeManagers localise it once for every application (YARN's public cache)."""
    settings = hadoop_configuration(environ)
    archive = jars_archive()
    folder = target or f"/user/{getpass.getuser()}/.dl4j-bridge/{VERSION}"
    with _hadoop_errors(f"uploading the project's jars to {folder}"):
        conf = jclass("org.apache.hadoop.conf.Configuration")()
        for key, value in settings.items():
            conf.set(key, value)
        path_class = jclass("org.apache.hadoop.fs.Path")
        base = path_class(folder)
        fs = base.getFileSystem(conf)
        base = fs.makeQualified(base)
        fs.mkdirs(base, jclass("org.apache.hadoop.fs.permission.FsPermission").createImmutable(0o755))
        remote = path_class(base, archive.name)
        if not (fs.exists(remote) and fs.getFileStatus(remote).getLen() == archive.stat().st_size):
            fs.copyFromLocalFile(False, True, path_class(str(archive)), remote)
        fs.setPermission(remote, jclass("org.apache.hadoop.fs.permission.FsPermission").createImmutable(0o644))
        return {ARCHIVE_KEY: str(remote.toUri())}
