"""The HL7 v2 doors with FHIRSVC_AUTH=smart (SQLite and PostgreSQL): `$convert-hl7v2` and
`$process-hl7v2` scopes, and the MLLP listener's sender policy over real sockets (plain TCP
and mutual TLS with a throwaway CA made here), refusals answered AR and audited."""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fhirsvc.mllp import MllpServer, frame
from fhirsvc.security.mllp_policy import MllpPolicy, msh_senders, parse_rules

from .smart_support import spec_keys

ER7 = "x-application/hl7-v2+er7"
ORU = ("MSH|^~\\&|{app}|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|{cid}|P|2.5.1\r"
       "PID|1||D-{n}^^^HOSPA^MR||Doe^Jane||19520915|F\r"
       "OBR|1|P{n}^HOSPA-ORD|F{n}^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100\r"
       "OBX|1|NM|17861-6^Calcium^LN||9.{n}|mg/dL^^UCUM|||||F\r")
# an ORU's OBR with a collection time (OBR-7) also makes the order's Specimen (OBR[Specimen])
WRITES = "system/Patient.u system/DiagnosticReport.u system/Observation.u system/Specimen.u"


def msa(ack: bytes | str) -> list[str]:
    text = ack.decode() if isinstance(ack, bytes) else ack
    return [s for s in text.strip("\x0b\x1c\r").split("\r") if s.startswith("MSA")][0].split("|")


def oru(cid: str, n: int, app: str = "LAB") -> str:
    return ORU.format(app=app, cid=cid, n=n)


def http(call, op: str, scope: str | None, body: str):
    return call("POST", f"/$%s-hl7v2" % op, scope, data=body.encode(),
                headers={"Content-Type": ER7})


def text_of(resp) -> str:
    return " ".join(i.get("diagnostics") or i.get("details", {}).get("text", "")
                    for i in resp.get_json()["issue"])


# -- $convert-hl7v2 / $process-hl7v2 over HTTP --------------------------------------------------
def test_convert_needs_the_scopes_processing_would_and_read_search(call):
    body = oru("cv-1", 1)
    resp = http(call, "convert", "system/Patient.rs", body)
    assert resp.status_code == 403
    text = text_of(resp)
    assert "system/Patient.u" in text and "system/Observation.u" in text  # every refusal
    assert "Bundle.entry[" in str(resp.get_json())
    # writes alone are not enough: the answer carries merged stored values (r) and a
    # conditional match tells whether the patient exists (s)
    resp = http(call, "convert", WRITES, body)
    assert resp.status_code == 403 and "system/Patient.r" in text_of(resp)
    ok = http(call, "convert", "system/Patient.rus system/DiagnosticReport.rus "
                               "system/Observation.rus system/Specimen.rus", body)
    assert ok.status_code == 200, ok.get_data(as_text=True)[:300]
    assert ok.get_json()["type"] == "transaction"


def test_process_refusal_is_ar_with_403(call, smart_runtime):
    body = oru("pr-1", 2)
    resp = http(call, "process", "system/Patient.u", body)
    assert resp.status_code == 403
    assert resp.mimetype == ER7
    fields = msa(resp.data)
    assert fields[1] == "AR" and fields[2] == "pr-1"
    assert "Not authorised" in resp.get_data(as_text=True)
    assert "system/Observation.u" in resp.get_data(as_text=True)
    # nothing was stored
    ctx = smart_runtime.context()
    found = smart_runtime.services.search.search(ctx, "Patient", [(
        "identifier", "http://hospital-a.example.org/fhir/sid/mrn|D-2")])
    assert found.get("total") == 0
    ok = http(call, "process", WRITES, body)
    assert ok.status_code == 200 and msa(ok.data)[1] == "AA", ok.data


def test_retransmission_is_authorised_before_the_log_answers(call):
    body = oru("pr-2", 3)
    first = http(call, "process", WRITES, body)
    assert msa(first.data)[1] == "AA"
    # the same control id from a caller who may not store it: not the earlier AA
    again = http(call, "process", "system/Patient.rs", body)
    assert again.status_code == 403 and msa(again.data)[1] == "AR"
    assert http(call, "process", WRITES, body).data == first.data   # still answered from log


# -- the policy: start-up rules -------------------------------------------------------------
def fake_runtime(runtime, **config):
    return types.SimpleNamespace(config=runtime.config.with_(**config),
                                 services=runtime.services, context=runtime.context)


def test_no_policy_refuses_non_loopback(smart_runtime):
    with pytest.raises(ValueError, match="FHIRSVC_MLLP_SENDERS"):
        MllpPolicy.load(fake_runtime(smart_runtime), "0.0.0.0")
    # auth off: refused too unless forced
    with pytest.raises(ValueError, match="FHIRSVC_AUTH_FORCE_OFF"):
        MllpPolicy.load(fake_runtime(smart_runtime, auth="off"), "10.0.0.5")
    assert MllpPolicy.load(fake_runtime(smart_runtime, auth="off", auth_force_off=True),
                           "10.0.0.5").trusted
    assert MllpPolicy.load(fake_runtime(smart_runtime), "127.0.0.1").trusted
    policy = MllpPolicy.load(fake_runtime(smart_runtime, mllp_senders='[{"client": "x", '
                                          '"addresses": ["10.0.0.0/8"]}]'), "0.0.0.0")
    assert not policy.trusted


@pytest.mark.parametrize("rules,message", [
    ('[{"senders": ["LAB^HOSPA"], "client": "x"}]', "addresses or tls_subjects"),
    ('[{"addresses": ["10.0.0.1"]}]', "needs a client"),
    ('[{"addresses": ["10.0.0.300"], "client": "x"}]', "10.0.0.300"),
    ('{"client": "x"}', "JSON list"),
    ('[{"client": "x", "addresses": ["10.0.0.1"], "user": "y"}]', "unknown keys"),
])
def test_bad_rules_are_refused(rules, message):
    with pytest.raises(ValueError, match=message):
        parse_rules(rules, "smart")


def test_tls_settings_are_checked(smart_runtime):
    rules = '[{"client": "x", "tls_subjects": ["a"]}]'
    with pytest.raises(ValueError, match="CLIENT_CA"):
        MllpPolicy.load(fake_runtime(smart_runtime, mllp_senders=rules), "0.0.0.0")
    with pytest.raises(ValueError, match="go together"):
        MllpPolicy.load(fake_runtime(smart_runtime, mllp_tls_cert="c.pem"), "127.0.0.1")


def test_msh_senders_of_a_batch():
    payload = (oru("b1", 1) + oru("b2", 2, app="LAB2")).encode()
    assert msh_senders(payload) == [("LAB", "HOSPA"), ("LAB2", "HOSPA")]


# -- real sockets ----------------------------------------------------------------------------
class Listener:
    def __init__(self, runtime, **config):
        self.loop = asyncio.new_event_loop()
        self.server = MllpServer(fake_runtime(runtime, **config), "127.0.0.1", 0, threads=2)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)

    def close(self):
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def exchange(sock, message: str) -> bytes:
    sock.sendall(frame(message.encode()))
    data = b""
    while not data.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        data += chunk
    return data


def audit_rows(runtime, **equals) -> list:
    runtime.services.audit.log.flush()
    with runtime.db.unit_of_work() as uow:
        return uow.audit.find(equals=equals, count=1000)[1]


@pytest.fixture(scope="module")
def clients(smart_runtime):
    auth = smart_runtime.services.auth
    jwks, _ = spec_keys("ES384")
    auth.register("mllp-lab", jwks, WRITES)
    auth.register("mllp-reader", jwks, "system/Patient.rs")
    return auth


@pytest.fixture(scope="module")
def plain(smart_runtime, clients):
    rules = ('[{"client": "mllp-lab", "addresses": ["127.0.0.1", "::1"], "senders": '
             '["LAB^HOSPA"]}, {"client": "mllp-reader", "addresses": ["127.0.0.0/8"], '
             '"senders": ["READER^HOSPA"]}, {"client": "nobody-registered", "addresses": '
             '["127.0.0.1"], "senders": ["GHOST^HOSPA"]}]')
    listener = Listener(smart_runtime, mllp_senders=rules)
    yield listener
    listener.close()


def test_mllp_admits_the_mapped_sender_with_its_clients_scopes(plain, smart_runtime):
    with socket.create_connection(("127.0.0.1", plain.port), timeout=30) as sock:
        assert msa(exchange(sock, oru("m-1", 4)))[1:3] == ["AA", "m-1"]
        # another sending application on the same address: no rule -> AR, connection open
        refused = exchange(sock, oru("m-2", 5, app="INTRUDER"))
        assert msa(refused)[1:3] == ["AR", "m-2"]
        assert b"Not authorised" in refused and rb"INTRUDER\S\HOSPA" in refused
        # the mapped client's scopes apply: the reader may not store
        denied = exchange(sock, oru("m-3", 6, app="READER"))
        assert msa(denied)[1] == "AR" and b"system/Observation.u" in denied
        # a rule naming a client that is not registered
        ghost = exchange(sock, oru("m-4", 7, app="GHOST"))
        assert msa(ghost)[1] == "AR" and b"not registered" in ghost
    # stored under the client: the Provenance / audit name it
    rows = audit_rows(smart_runtime, client_id="mllp-lab", door="mllp")
    assert any(r.interaction in ("create", "update") for r in rows)
    refusals = audit_rows(smart_runtime, door="mllp", status=403)
    assert any("INTRUDER^HOSPA" in (r.detail or "") and "m-2" in (r.query or "")
               for r in refusals)


def test_mllp_address_rule(smart_runtime, clients):
    listener = Listener(smart_runtime, mllp_senders='[{"client": "mllp-lab", "addresses": '
                                                    '["192.0.2.10"]}]')
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as sock:
            ack = exchange(sock, oru("a-1", 8))
            assert msa(ack)[1] == "AR" and b"127.0.0.1" in ack
    finally:
        listener.close()


# -- mutual TLS with a throwaway CA ------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer_name, issuer_key, *, ca=False, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(hours=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("fhirsvc test CA", ca_key, _name("fhirsvc test CA"), ca_key, ca=True)

    def write(name, key, cert):
        (d / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, san in (("server", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                      ("lab-feed.test", [x509.DNSName("lab-feed.test")]),
                      ("stranger.test", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        write(name, key, _cert(name, key, ca.subject, ca_key, san=san))
    other_key = ec.generate_private_key(ec.SECP256R1())   # signed by nobody we trust
    write("self-signed", other_key, _cert("lab-feed.test", other_key, _name("lab-feed.test"),
                                          other_key))
    return d


@pytest.fixture(scope="module")
def tls_listener(smart_runtime, clients, pki):
    listener = Listener(smart_runtime, mllp_senders='[{"client": "mllp-lab", "tls_subjects": '
                                                    '["lab-feed.test"]}]',
                        mllp_tls_cert=str(pki / "server.pem"),
                        mllp_tls_key=str(pki / "server.key"),
                        mllp_tls_client_ca=str(pki / "ca.pem"))
    yield listener
    listener.close()


def tls_connect(port: int, pki, client: str | None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca.pem"))
    if client:
        ctx.load_cert_chain(str(pki / f"{client}.pem"), str(pki / f"{client}.key"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def test_mutual_tls_admits_the_certificate_of_the_rule(tls_listener, pki):
    with tls_connect(tls_listener.port, pki, "lab-feed.test") as sock:
        assert msa(exchange(sock, oru("t-1", 9)))[1:3] == ["AA", "t-1"]
    with tls_connect(tls_listener.port, pki, "stranger.test") as sock:
        ack = exchange(sock, oru("t-2", 10))
        assert msa(ack)[1] == "AR" and b"stranger.test" in ack


@pytest.mark.parametrize("client", [None, "self-signed"])
def test_mutual_tls_without_a_trusted_certificate_gets_nothing_stored(tls_listener, pki,
                                                                     client, smart_runtime):
    # no certificate, or one no trusted CA signed: the handshake fails (TLS 1.2) or the
    # server closes the connection at once (TLS 1.3): no ACK, nothing processed
    got = b""
    try:
        with tls_connect(tls_listener.port, pki, client) as sock:
            sock.sendall(frame(oru(f"t-3-{client}", 11).encode()))
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
    except (ssl.SSLError, ConnectionError, OSError):
        pass
    assert b"MSA" not in got
    found = smart_runtime.services.search.search(smart_runtime.context(), "Patient", [(
        "identifier", "http://hospital-a.example.org/fhir/sid/mrn|D-11")])
    assert found.get("total") == 0


def test_plain_tcp_to_the_tls_port_gets_no_ack(tls_listener):
    with socket.create_connection(("127.0.0.1", tls_listener.port), timeout=10) as sock:
        sock.sendall(frame(oru("t-4", 12).encode()))
        try:
            data = sock.recv(65536)
        except (ConnectionError, socket.timeout):
            data = b""
        assert b"MSA" not in data
