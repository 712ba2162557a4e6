"""MQTT publishing to a real mosquitto broker, including the broker going away mid-stream."""

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from toppose.runtime.publish import CA_ENV, PASSWORD_ENV, MqttTarget, PublishError
from toppose.runtime.session import PoseSession
from toppose.runtime.replay import DemoSource
from toppose.runtime.sources import Captured, Source
from toppose.runtime.stream import StreamConfig, bundled_model, run_stream

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
# CI installs mosquitto (.ci/run), so there a missing broker fails instead of skipping
pytestmark = pytest.mark.skipif(MOSQUITTO is None and not os.environ.get("CI"),
                                reason="mosquitto is not installed (apt-get install mosquitto)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A real mosquitto on a loopback port; ``stop`` and ``start`` again keep the port. ``users``
    {name: password}: only they may connect (mosquitto_passwd writes the password file); ``tls``:
    mosquitto's cafile, certfile and keyfile for a TLS listener; ``persistent``: sessions and their
    queued messages kept on disk across a restart."""

    def __init__(self, folder, port: int, users: dict[str, str] | None = None,
                 tls: dict[str, str] | None = None, persistent: bool = False) -> None:
        self.port, self.conf, self.proc = port, folder / "mosquitto.conf", None
        conf = [f"listener {port} 127.0.0.1", "allow_anonymous true"]
        if users:
            passwords = folder / "passwords"
            for i, (name, password) in enumerate(users.items()):
                subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(passwords), name, password],
                               check=True, capture_output=True)
            conf[1:] = ["allow_anonymous false", f"password_file {passwords}"]
        conf += [f"{k} {v}" for k, v in (tls or {}).items()]   # {"cafile": ..., "certfile": ..., "keyfile": ...}
        conf += ["persistence true", f"persistence_location {folder}/"] if persistent else ["persistence false"]
        if users or tls or persistent:   # as root, mosquitto would become its own user: no access to pytest's folders
            conf.append(f"user {getpass.getuser()}")
        self.conf.write_text("\n".join(conf) + "\n")

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Subscriber:
    """A paho client that re-subscribes on every reconnect and keeps what arrives."""

    def __init__(self, port: int, topic: str, login: tuple[str, str] | None = None, ca: str | None = None,
                 session: str | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        # session: a client id whose subscription the broker keeps (and queues for) while it is away
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **({"client_id": session, "clean_session": False}
                                                                       if session else {}))
        if login:
            self.client.username_pw_set(*login)
        if ca:
            self.client.tls_set(ca_certs=ca)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda c, u, f, r, p: (c.subscribe(f"{topic}/#", qos=1), self.ready.set())
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))

    def topic(self, suffix: str) -> list[dict]:
        with self.lock:
            return [m for t, m in self.messages if t.endswith(suffix)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path, free_port())
    b.start()
    yield b
    b.stop()


class BrokerOutage(Source):
    """The demo scene, paced at ``fps``, stopping the broker at frame ``down`` and restarting it at ``up``."""

    def __init__(self, broker: Broker, frames: int, down: int, up: int, fps: float = 10.0) -> None:
        self.demo, self.broker = DemoSource(seed=2, people=3), broker
        self.frames, self.down, self.up, self.fps = frames, down, up, fps

    def __iter__(self):
        for captured in self.demo:
            if captured.index >= self.frames:
                return
            if captured.index == self.down:
                self.broker.stop()
            if captured.index == self.up:
                self.broker.start()
            time.sleep(1 / self.fps)
            yield Captured(captured.index, captured.timestamp, captured.frame, captured.capture_ms)


def test_poses_and_events_reach_a_real_broker_through_an_outage(broker, tmp_path):
    zones = tmp_path / "zones.json"
    zones.write_text(json.dumps({"zones": [{"name": "all", "polygon": [[0, 0], [320, 0], [320, 240], [0, 240]]}]}))
    sub = Subscriber(broker.port, "site/cam1")
    started = time.time()
    try:
        cfg = StreamConfig(zones=zones, mqtt=f"mqtt://127.0.0.1:{broker.port}/site/cam1", jsonl=tmp_path / "p.jsonl")
        stats = run_stream(BrokerOutage(broker, frames=60, down=15, up=30), PoseSession(bundled_model(), "cpu"), cfg)
        assert stats.frames == 60                      # the outage never stopped the stream
        deadline = time.time() + 5
        while time.time() < deadline and not any(m["index"] >= 50 for m in sub.topic("/poses")):
            time.sleep(0.1)
        indices = [m["index"] for m in sub.topic("/poses")]
        assert any(i < 15 for i in indices) and any(i >= 40 for i in indices)   # before and after
        assert not any(20 <= i < 30 for i in indices)  # the broker was down then: QoS 0 poses are not queued
        first = sub.topic("/poses")[-1]
        assert set(first) >= {"index", "timestamp", "people"} and all("id" in p for p in first["people"])
        enters = [e for e in sub.topic("/events") if e["type"] == "enter"]
        assert enters and {e["zone"] for e in enters} == {"all"}
        assert stats.summary()["tracking"]["mqtt_poses_not_sent"] > 0
        assert stats.summary()["tracking"]["mqtt_events_not_sent"] == 0   # queued through the outage, not lost
        lines = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
        jsonl_enters = [e for line in lines for e in line.get("events", []) if e["type"] == "enter"]
        assert len(enters) == len(jsonl_enters)       # QoS 1 events all arrive, even those of the outage
        statuses = sub.topic("/status")
        runs = {m["run"] for m in statuses + sub.topic("/poses") + sub.topic("/events")}
        said = [m["status"] for m in statuses]   # mosquitto going down sends its clients' wills: offline between
        assert said[0] == "online" and said[-2:] == ["online", "closed"] and len(runs) == 1   # reconnected, then closed
        assert all(started <= e["wall_time"] <= time.time() for e in enters)   # when, on the wall clock
        assert not any("run" in e or "wall_time" in e for e in jsonl_enters)   # the stream's own lines: unchanged
        late = Subscriber(broker.port, "site/cam1")   # a dashboard that starts now gets the last occupancy
        try:
            deadline = time.time() + 5
            while time.time() < deadline and not late.topic("/occupancy"):
                time.sleep(0.05)
            assert [m["occupancy"] for m in late.topic("/occupancy")] == [lines[-1]["occupancy"]]
        finally:
            late.close()
    finally:
        sub.close()


def test_a_stream_that_dies_is_marked_offline_by_the_broker(broker):
    """The client's last will: the broker itself marks the status offline when the stream is killed."""
    sub = Subscriber(broker.port, "site/cam9")
    exe = Path(sys.executable).parent / "toppose-stream"
    proc = subprocess.Popen([str(exe), "--demo", "--frames", "100000", "--device", "cpu", "--no-show", "--track",
                             "--mqtt", f"mqtt://127.0.0.1:{broker.port}/site/cam9"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not sub.topic("/poses"):
            time.sleep(0.1)
        online = sub.topic("/status")
        assert [m["status"] for m in online] == ["online"] and sub.topic("/poses")
        proc.kill()
        proc.wait(10)
        deadline = time.time() + 10
        while time.time() < deadline and len(sub.topic("/status")) < 2:
            time.sleep(0.1)
        assert [(m["status"], m["run"]) for m in sub.topic("/status")] == [("online", online[0]["run"]),
                                                                           ("offline", online[0]["run"])]
        late = Subscriber(broker.port, "site/cam9")   # retained: whoever subscribes later learns it too
        try:
            deadline = time.time() + 5
            while time.time() < deadline and not late.topic("/status"):
                time.sleep(0.05)
            assert [m["status"] for m in late.topic("/status")] == ["offline"]
        finally:
            late.close()
    finally:
        proc.kill()
        proc.wait(10)
        sub.close()


def test_several_sources_publish_each_under_its_own_name(broker, caplog):
    NAMES = ("the_demo_scene", "the_demo_scene-2")   # the sources' names (``multi.source_names``)
    caplog.set_level("INFO", "toppose.runtime")
    sub = Subscriber(broker.port, "site")
    try:
        cfg = StreamConfig(track=True, mqtt=f"mqtt://127.0.0.1:{broker.port}/site", frames=10)
        run_stream([DemoSource(seed=1), DemoSource(seed=2)], PoseSession(bundled_model(), "cpu"), cfg)
        deadline = time.time() + 5
        while time.time() < deadline and len([t for t, m in sub.messages if m.get("status") == "closed"]) < 2:
            time.sleep(0.05)
        topics = {t for t, _ in sub.messages}
        assert topics == {f"site/{n}/{kind}" for n in NAMES for kind in ("poses", "status")}
        status = {t: m for t, m in sub.messages if t.endswith("/status")}
        assert {m["source"] for m in status.values()} == set(NAMES) and len({m["run"] for m in status.values()}) == 2
        assert all(m["source"] == t.split("/")[1] for t, m in sub.messages)
        assert "disconnected" not in caplog.text   # closing is no outage
    finally:
        sub.close()


def test_a_site_can_keep_every_pose_on_the_box(broker, tmp_path):
    """--no-mqtt-poses: events, occupancy and status leave the box, no body does."""
    zones = tmp_path / "zones.json"
    zones.write_text(json.dumps({"zones": [{"name": "all", "polygon": [[0, 0], [320, 0], [320, 240], [0, 240]]}]}))
    sub = Subscriber(broker.port, "site/private")
    try:
        cfg = StreamConfig(zones=zones, mqtt=f"mqtt://127.0.0.1:{broker.port}/site/private", mqtt_poses=False,
                           frames=20)
        stats = run_stream(DemoSource(seed=2), PoseSession(bundled_model(), "cpu"), cfg)
        deadline = time.time() + 5
        while time.time() < deadline and "closed" not in [m["status"] for m in sub.topic("/status")]:
            time.sleep(0.05)
        assert {t.rsplit("/", 1)[1] for t, _ in sub.messages} == {"events", "occupancy", "status"}
        assert not any("people" in m or "keypoints" in json.dumps(m) for _, m in sub.messages)
        assert stats.summary()["tracking"]["mqtt_poses_not_sent"] == 0   # none were meant to be
    finally:
        sub.close()


def test_events_beyond_the_queue_are_counted_and_the_queued_ones_arrive_later(tmp_path, caplog):
    from toppose.runtime.publish import MqttPublisher

    broker = Broker(tmp_path, free_port(), persistent=True)
    broker.start()
    Subscriber(broker.port, "site/q", session="reader").close()   # the broker now keeps what "reader" misses
    broker.stop()                                                  # the broker is away
    assert (tmp_path / "mosquitto.db").is_file()                  # ... and kept that session on disk
    publisher = MqttPublisher(MqttTarget.parse(f"mqtt://127.0.0.1:{broker.port}/site/q"), max_queued=3)
    caplog.set_level("WARNING", "toppose.runtime")
    for i in range(5):
        publisher.publish({"index": i, "latency_ms": {"latency": 5.0}}, [{"type": "enter", "frame": i}])
    assert publisher.events_dropped == 2 and publisher.dropped == 5 and "newer ones are dropped" in caplog.text
    broker.start()
    sub = Subscriber(broker.port, "site/q", session="reader")
    try:
        deadline = time.time() + 10
        while time.time() < deadline and len(sub.topic("/events")) < 3:
            time.sleep(0.05)
        assert [e["frame"] for e in sub.topic("/events")] == [0, 1, 2]   # the oldest three, in order
    finally:
        publisher.close()
        sub.close()
        broker.stop()


def test_a_service_stop_ends_the_stream_cleanly(broker, tmp_path):
    """SIGTERM (systemd stopping a service): the JSON lines finished, the status closed, exit 128 + 15."""
    sub = Subscriber(broker.port, "site/cam8")
    exe = Path(sys.executable).parent / "toppose-stream"
    out = tmp_path / "p.jsonl"
    proc = subprocess.Popen([str(exe), "--demo", "--frames", "100000", "--device", "cpu", "--no-show", "--track",
                             "--json", str(out), "--mqtt", f"mqtt://127.0.0.1:{broker.port}/site/cam8"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(sub.topic("/poses")) < 5:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
        assert "Traceback" not in err
        lines = [json.loads(x) for x in out.read_text().splitlines()]   # every line whole, at its final name
        assert len(lines) >= 5 and [x["index"] for x in lines] == list(range(len(lines)))
        deadline = time.time() + 5
        while time.time() < deadline and not any(m["status"] == "closed" for m in sub.topic("/status")):
            time.sleep(0.05)
        assert [m["status"] for m in sub.topic("/status")] == ["online", "closed"]
    finally:
        proc.kill()
        proc.wait(10)
        sub.close()


def test_a_broker_that_is_down_is_not_fatal(tmp_path):
    port = free_port()                                 # nobody listens here
    cfg = StreamConfig(track=True, mqtt=f"mqtt://127.0.0.1:{port}/cam", frames=5)
    stats = run_stream(DemoSource(seed=1), PoseSession(bundled_model(), "cpu"), cfg)
    assert stats.frames == 5 and stats.summary()["tracking"]["mqtt_poses_not_sent"] == 5


def test_a_broker_that_wants_a_login_gets_the_urls_or_the_environments_password(tmp_path, monkeypatch, caplog):
    broker = Broker(tmp_path, free_port(), users={"cam": "s3cret:/@", "reader": "r"})
    broker.start()
    sub = Subscriber(broker.port, "site", login=("reader", "r"))
    try:
        def stream(url: str, topic: str):
            cfg = StreamConfig(track=True, mqtt=url, frames=20)
            assert run_stream(DemoSource(seed=1), PoseSession(bundled_model(), "cpu"), cfg).frames == 20
            deadline = time.time() + 5
            while time.time() < deadline and not sub.topic(f"{topic}/status"):
                time.sleep(0.05)
            return [m for t, m in sub.messages if t == f"site/{topic}/poses"]

        port = broker.port
        assert len(stream(f"mqtt://cam:s3cret%3A%2F%40@127.0.0.1:{port}/site/url", "url")) > 10   # percent-encoded
        monkeypatch.setenv(PASSWORD_ENV, "s3cret:/@")
        assert len(stream(f"mqtt://cam@127.0.0.1:{port}/site/env", "env")) > 10   # kept out of the process list
        caplog.set_level("WARNING", "toppose.runtime")
        assert stream(f"mqtt://cam:wrong@127.0.0.1:{port}/site/bad", "bad") == []   # refused: logged, not fatal
        assert "refused the connection" in caplog.text and "wrong" not in caplog.text
    finally:
        sub.close()
        broker.stop()


def site_certificates(folder) -> dict[str, str]:
    """A site's own certificate authority and the broker's certificate for 127.0.0.1 it signed (openssl)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=site CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "broker.key",
            "-out", "broker.csr")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "san.ext", "-out", "broker.pem")
    return {k: str(folder / name) for k, name in (("cafile", "ca.pem"), ("certfile", "broker.pem"),
                                                   ("keyfile", "broker.key"))}


def test_tls_to_a_broker_with_a_sites_own_certificate_authority(tmp_path, monkeypatch, caplog):
    certs = site_certificates(tmp_path)
    broker = Broker(tmp_path, free_port(), tls=certs)
    broker.start()
    sub = Subscriber(broker.port, "site", ca=certs["cafile"])
    url = f"mqtts://127.0.0.1:{broker.port}/site/cam"
    try:
        monkeypatch.setenv(CA_ENV, certs["cafile"])
        cfg = StreamConfig(track=True, mqtt=url, frames=20)
        assert run_stream(DemoSource(seed=1), PoseSession(bundled_model(), "cpu"), cfg).frames == 20
        deadline = time.time() + 5
        while time.time() < deadline and not sub.topic("/status"):
            time.sleep(0.05)
        assert len(sub.topic("/poses")) > 10
        monkeypatch.delenv(CA_ENV)   # the system's authorities do not know the site's: no connection, no error
        caplog.set_level("WARNING", "toppose.runtime")
        stats = run_stream(DemoSource(seed=1), PoseSession(bundled_model(), "cpu"),
                           StreamConfig(track=True, mqtt=url.replace("/cam", "/untrusted"), frames=10))
        assert stats.frames == 10 and stats.summary()["tracking"]["mqtt_poses_not_sent"] == 10
        assert "cannot connect" in caplog.text and not [t for t, _ in sub.messages if "untrusted" in t]
    finally:
        sub.close()
        broker.stop()


def test_a_certificate_authority_file_is_checked_before_the_stream(tmp_path, monkeypatch):
    monkeypatch.setenv(CA_ENV, str(tmp_path / "gone.pem"))
    with pytest.raises(PublishError, match=f"{CA_ENV}=.*gone.pem: cannot read"):
        MqttTarget.parse("mqtts://broker/t")
    (tmp_path / "text.pem").write_text("not a certificate")
    monkeypatch.setenv(CA_ENV, str(tmp_path / "text.pem"))
    with pytest.raises(PublishError, match="not a PEM certificate"):
        MqttTarget.parse("mqtts://broker/t")
    assert MqttTarget.parse("mqtt://broker/t").ca is None   # plain MQTT: no TLS, the variable is not read
    monkeypatch.delenv(CA_ENV)
    assert MqttTarget.parse("mqtts://broker/t") == MqttTarget("broker", 8883, "t", tls=True)   # the system's CAs


def test_a_password_in_a_bad_url_is_not_shown():
    with pytest.raises(PublishError) as e:
        MqttTarget.parse("mqtt://cam:hunter2@h:0/t")
    assert "hunter2" not in str(e.value) and "cam:***@h:0" in str(e.value)
    assert "hunter2" not in repr(MqttTarget.parse("mqtt://cam:hunter2@h/t"))


@pytest.mark.parametrize("url, message", [("http://h/t", "expected mqtt://"), ("mqtt://h:99999/t", "port"),
                                          ("mqtt://h:1883/", "a host and a topic"), ("mqtt://h/a/#", "cannot contain"),
                                          ("mqtt://h:0/t", "port"), ("mqtt://[::1/t", "not a URL"),
                                          ("mqtt://:pw@h/t", "a password needs a user"),
                                          ("mqtt://h/t?qos=1", "not supported"),
                                          ("mqtt://h/" + "t" * 70_000, "too long")],
                         ids=lambda v: v if len(v) < 40 else v[:20] + "...")
def test_bad_mqtt_urls(url, message):
    with pytest.raises(PublishError, match=message):
        MqttTarget.parse(url)
    assert MqttTarget.parse("mqtt://broker:1884/site/cam") == MqttTarget("broker", 1884, "site/cam")
    assert MqttTarget.parse("mqtt://a%20b:p%40ss@broker/t") == MqttTarget("broker", 1883, "t", "a b", "p@ss")
