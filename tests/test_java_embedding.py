"""The runtime as a Java team meets it: `mvn install` the library, then a fresh Maven project that
depends only on the documented coordinates (ai.dl4jbridge:dl4j-bridge-runtime:0.1.0) embeds
PredictionServer, serves LeNet and predicts through HTTP; the answer equals Python ONNX Runtime's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

import bridge
from bridge.jvm import java_home

ROOT = Path(__file__).resolve().parent.parent
JAVA = ROOT / "java"
LENET = ROOT / "models" / "vectors" / "lenet" / "model.onnx"

POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>embedded-service</artifactId>
  <version>1.0</version>
  <properties>
    <maven.compiler.release>11</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency>
      <groupId>ai.dl4jbridge</groupId>
      <artifactId>dl4j-bridge-runtime</artifactId>
      <version>0.1.0</version>
    </dependency>
  </dependencies>
</project>
"""

# The embedded service and its client, as docs/java.md shows them.
MAIN = """
import ai.dl4jbridge.runtime.OnnxPredictor;
import ai.dl4jbridge.runtime.Predictor;
import ai.dl4jbridge.runtime.service.PredictionServer;
import ai.dl4jbridge.runtime.service.ServiceOptions;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;

public class Main {
    public static void main(String[] args) throws Exception {
        Predictor lenet = OnnxPredictor.builder().setModel(Path.of(args[0])).build();
        try (PredictionServer server = PredictionServer.start(lenet, ServiceOptions.defaults().batching(32, 500))) {
            HttpClient http = HttpClient.newHttpClient();
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/predict"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(Files.readString(Path.of(args[1]))))
                    .build();
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            System.out.println("ANSWER " + response.statusCode() + " " + response.body());
        }
    }
}
"""


def _maven(args: list[str], cwd: Path) -> None:
    done = subprocess.run(
        [str(JAVA / "mvnw"), "-B", "-q", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "JAVA_HOME": str(java_home())},
    )
    assert done.returncode == 0, f"mvn {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_a_fresh_maven_project_embeds_the_service(tmp_path):
    _maven(["install", "-pl", "runtime", "-am", "-Dmaven.test.skip=true", "-DskipServiceJar=true"], JAVA)
    project = tmp_path / "embedded"
    (project / "src" / "main" / "java").mkdir(parents=True)
    shutil.copytree(JAVA / ".mvn", project / ".mvn")  # the wrapper, and Maven Central as the only repository
    (project / "pom.xml").write_text(POM)
    (project / "src" / "main" / "java" / "Main.java").write_text(MAIN)
    _maven(["package", "dependency:build-classpath", "-Dmdep.outputFile=classpath.txt"], project)

    _, _, x_test, _ = bridge.data.load("mnist")
    rows = np.ascontiguousarray(x_test[:3], dtype=np.float32)
    (tmp_path / "rows.json").write_text(json.dumps({"inputs": rows.tolist()}))
    classpath = f"{project / 'target' / 'classes'}:{(project / 'classpath.txt').read_text().strip()}"
    run = subprocess.run(
        [str(java_home() / "bin" / "java"), "-cp", classpath, "Main", str(LENET), str(tmp_path / "rows.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("ANSWER "))
    status, body = line[len("ANSWER ") :].split(" ", 1)
    assert status == "200", body
    probs = np.asarray(json.loads(body)["probabilities"], np.float32)
    expected = bridge.OnnxModel(str(LENET), providers="cpu").predict(rows)
    assert np.abs(probs - expected).max() <= 1e-5
