"""Publish each frame's poses and events to an MQTT broker (paho-mqtt 2.x).

``mqtt://[USER[:PASSWORD]@]HOST[:PORT]/TOPIC`` (a user without a password in the URL takes it from
the ``TOPPOSE_MQTT_PASSWORD`` environment variable, which keeps it out of the process list; the
password is never printed); ``mqtts://`` for TLS (port 8883 unless given), the broker's certificate
checked against the system's certificate authorities or the one in the PEM file that
``TOPPOSE_MQTT_CA`` names (a site's own).

Topics: ``TOPIC/poses`` each frame's line, QoS 0 (a lost frame is replaced by the next; not with
``poses=False``, for a site where no body should leave the box);
``TOPIC/events`` each zone and line event, QoS 1; ``TOPIC/occupancy``, retained, QoS 1: the
people in each zone whenever that changes; ``TOPIC/status``, retained, QoS 1: ``online``
once connected, ``closed`` when the stream ends, and ``offline`` from the broker itself (the
client's last will) when the stream dies or loses its network. Every message carries ``run``, one
random id per stream (a restarted stream counts ids from 1 again), and poses and events
``wall_time``, Unix seconds when the frame was captured. One of several sources publishes under
``TOPIC/<source>/`` (its messages carry ``source``), each with its own status. paho's network thread connects and
reconnects in the background, so a broker that is down or goes away is logged and the stream
goes on; QoS 1 events published meanwhile wait in a bounded queue and go out on reconnect.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit

from toppose.errors import ToposeError

log = logging.getLogger("toppose.runtime")


_MAX_TOPIC = 65535   # bytes (UTF-8), the MQTT protocol's limit
PASSWORD_ENV = "TOPPOSE_MQTT_PASSWORD"
CA_ENV = "TOPPOSE_MQTT_CA"


def _shown(url: str) -> str:
    """The URL as error messages show it: a password in it replaced by ***."""
    return re.sub(r"^([^:/]*://[^:@/]*):[^@/]*@", r"\1:***@", url)


class PublishError(ToposeError):
    """A bad --mqtt URL or a missing client library; one line naming the option."""


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    topic: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca: str | None = None   # PEM file of the certificate authority to trust; None: the system's

    @classmethod
    def parse(cls, url: str) -> "MqttTarget":
        shown = _shown(url)
        try:
            parts = urlsplit(url)
        except ValueError as e:   # e.g. an unclosed [IPv6 address
            raise PublishError(f"--mqtt {shown!r}: not a URL ({e}); expected mqtt://HOST:PORT/TOPIC") from None
        if parts.scheme not in ("mqtt", "mqtts"):
            raise PublishError(f"--mqtt {shown!r}: expected mqtt://HOST:PORT/TOPIC (or mqtts:// for TLS)")
        tls = parts.scheme == "mqtts"
        try:
            port = (8883 if tls else 1883) if parts.port is None else parts.port
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise PublishError(f"--mqtt {shown!r}: the port must be a number from 1 to 65535")
        topic = parts.path.strip("/")
        if not parts.hostname or not topic:
            raise PublishError(f"--mqtt {shown!r}: expected mqtt://HOST:PORT/TOPIC with a host and a topic")
        if parts.fragment or "#" in url or "+" in topic:
            raise PublishError(f"--mqtt {shown!r}: a topic to publish to cannot contain '#' or '+'")
        if parts.query:   # it would be ignored
            raise PublishError(f"--mqtt {shown!r}: a ?query is not supported; expected mqtt://HOST:PORT/TOPIC")
        user = unquote(parts.username) if parts.username is not None else None
        if user == "":
            raise PublishError(f"--mqtt {shown!r}: a password needs a user (mqtt://USER:PASSWORD@HOST:PORT/TOPIC)")
        password = unquote(parts.password) if parts.password is not None else None
        if user is not None and password is None:
            password = os.environ.get(PASSWORD_ENV)
        if len(topic.encode("utf-8", "surrogateescape")) > _MAX_TOPIC - len("/events"):
            raise PublishError(f"--mqtt {shown[:40]!r}...: the topic is too long ({len(topic)} characters; MQTT "
                               f"topics hold at most {_MAX_TOPIC} bytes, with /poses, /events or /status added)")
        return cls(parts.hostname, port, topic, user, password, tls, _ca() if tls else None)


def _ca() -> str | None:
    """The PEM file ``TOPPOSE_MQTT_CA`` names, checked; None when unset."""
    path = os.environ.get(CA_ENV)
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            pem = f.read(1 << 20)
    except OSError as e:
        raise PublishError(f"{CA_ENV}={path}: cannot read ({e.strerror or e})") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise PublishError(f"{CA_ENV}={path}: not a PEM certificate (no BEGIN CERTIFICATE line)")
    return path


class MqttPublisher:
    """One paho client in its own network thread; ``publish`` never blocks on the network."""

    def __init__(self, target: MqttTarget, source: str | None = None, max_queued: int = 1000,
                 poses: bool = True) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise PublishError("--mqtt needs paho-mqtt: pip install 'paho-mqtt>=2'") from None
        if source:   # one camera of several: its own topics
            target = replace(target, topic=f"{target.topic}/{source}")
        self.target, self.source, self.poses = target, source, poses
        self.connected = threading.Event()
        self.dropped = 0          # poses not sent: the broker was away
        self.events_dropped = 0   # events not sent: the queue was full (``max_queued``) while it was away
        self.occupancy: dict | None = None   # as last published
        self.run = uuid.uuid4().hex[:12]
        self.status_topic = f"{target.topic}/status"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"toppose-{self.run}")
        self.client.will_set(self.status_topic, self._status("offline"), qos=1, retain=True)
        self.max_queued = max_queued
        self.client.max_queued_messages_set(max_queued)
        self._queue_full = mqtt.MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
        self.client.reconnect_delay_set(min_delay=0.2, max_delay=2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.failing = self.closing = False
        if target.username is not None:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set(ca_certs=target.ca)
        self.client.connect_async(target.host, target.port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            log.warning("mqtt %s:%d refused the connection: %s", self.target.host, self.target.port, reason)
            return
        self.connected.set()
        self.failing = False
        client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
        self.occupancy = None   # published again with the next frame: a restarted broker may have lost it
        log.info("mqtt connected to %s:%d%s", self.target.host, self.target.port, " (TLS)" if self.target.tls else "")

    def _on_connect_fail(self, client, userdata) -> None:
        if not self.failing:   # once per outage: paho retries every few seconds
            self.failing = True
            log.warning("mqtt %s:%d: cannot connect%s; retrying in the background", self.target.host, self.target.port,
                        " (is it up, and does its TLS certificate check out?)" if self.target.tls else " (is it up?)")

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        if self.connected.is_set() and not self.closing:
            log.warning("mqtt %s:%d disconnected (%s); reconnecting in the background",
                        self.target.host, self.target.port, reason)
        self.connected.clear()

    def _status(self, status: str) -> str:
        return json.dumps({"status": status, "run": self.run, "wall_time": round(time.time(), 3),
                           **({"source": self.source} if self.source else {})})

    def publish(self, frame: dict, events: list[dict]) -> None:
        """frame: the JSON line of one frame (poses, its ``latency_ms``); events: its zone and line events.
        Neither is changed: the messages are copies with ``run`` and ``wall_time`` added."""
        stamp = {"run": self.run,
                 "wall_time": round(time.time() - frame.get("latency_ms", {}).get("latency", 0.0) / 1000, 3),
                 **({"source": self.source} if self.source else {})}
        if self.poses:
            if self.connected.is_set():
                self._send(f"{self.target.topic}/poses", frame | stamp, 0)
            else:
                self.dropped += 1   # QoS 0 poses are not worth queueing for a broker that is away
        for event in events:
            self._send(f"{self.target.topic}/events", event | stamp, 1)
        occupancy = frame.get("occupancy")
        if occupancy and occupancy != self.occupancy:   # retained: a new dashboard sees it at once
            self.occupancy = occupancy
            self._send(f"{self.target.topic}/occupancy", {"occupancy": occupancy} | stamp, 1, retain=True)

    def _send(self, topic: str, payload: dict, qos: int, retain: bool = False) -> None:
        info = self.client.publish(topic, json.dumps(payload), qos=qos, retain=retain)
        if qos and info.rc == self._queue_full:   # MQTT_ERR_NO_CONN is no loss: queued, sent on reconnect
            if not self.events_dropped:
                log.warning("mqtt: %d events wait for the broker, as many as are kept; newer ones are dropped",
                            self.max_queued)
            self.events_dropped += 1

    def close(self, timeout_s: float = 2.0) -> None:
        """Give queued QoS 1 events a moment to go out (they are sent in order), then disconnect."""
        if self.connected.is_set():
            info = self.client.publish(self.status_topic, self._status("closed"), qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout_s)
        self.closing = True
        self.client.disconnect()
        self.client.loop_stop()
